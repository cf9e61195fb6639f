"""What the benchmark measures: HTTP operations against the Carnet API, the same list and search
queries run directly in SQL, the import paths, and the timed loop that drives N concurrent clients.

Scenarios are written against the API contract of every domain, built or not. A scenario whose
endpoint answers 404 or 405 while it prepares raises `NotAvailable` and is reported as such, so the
harness runs on whatever the server implements today.
"""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import random
import re
import subprocess
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from loadclient import Http, KeepAliveClient, Response
from sqlalchemy import (
    Connection,
    Engine,
    MetaData,
    Select,
    Table,
    inspect,
    or_,
    select,
    text,
    true,
)

from carnet.core.search import search_statement
from carnet.core.text import search_tokens

API = "/api/v1"
LOCKED = "database is locked"
# A log record starts with a timestamp (text logs) or is one JSON object per line.
LOG_RECORD = re.compile(r"(?m)^(?=\d{4}-\d{2}-\d{2} |\{)")
# "sqlalchemy.exc.IntegrityError: (psycopg.errors.UniqueViolation) duplicate key value ..."
EXCEPTION_LINE = re.compile(r"(?m)^[A-Za-z_][\w.]*(?:Error|Exception|Violation): .*$")
LIST_LIMIT = 50


# -- outcomes, goals and the target --------------------------------------------------------------


class Skipped(Exception):
    """A scenario that cannot run; `status` is what the report shows."""

    status = "skipped"

    def __init__(self, reason: str, http_status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.http_status = http_status


class NotAvailable(Skipped):
    """The endpoint (or table) the scenario needs does not exist yet."""

    status = "not available"


class SetupFailed(Skipped):
    """The endpoint exists but preparing the scenario failed."""

    status = "setup failed"


@dataclass(frozen=True)
class Goal:
    metric: str  # "p95_ms", "rows_per_s" or "locked"
    target: float

    def describe(self) -> str:
        if self.metric == "p95_ms":
            return f"p95 ≤ {self.target:g} ms"
        if self.metric == "rows_per_s":
            return f"≥ {self.target:,.0f} rows/s"
        return f"{self.target:g} locked"

    def met(self, value: float) -> bool:
        return value >= self.target if self.metric == "rows_per_s" else value <= self.target


@dataclass
class Target:
    """The server under test and what the scenarios need to know about its data."""

    base_url: str
    tokens: dict[str, str]  # persona ("admin", "sales") -> API token
    size: str
    sales_user_id: int | None = None
    sales_department_id: int | None = None
    database_url: str | None = None
    server_log: Path | None = None
    # How to run `carnet` against the same database (orchestrated runs only).
    carnet_command: list[str] | None = None
    carnet_env: dict[str, str] | None = None
    work_dir: Path | None = None

    def _authorization(self, persona: str) -> dict[str, str]:
        token = self.tokens.get(persona)
        if token is None:
            raise Skipped(f"no API token for the {persona} user")
        return {"Authorization": f"Bearer {token}"}

    def client(self, persona: str) -> httpx.Client:
        """For setup requests: the full httpx client."""
        # trust_env=False: a proxy from the environment must never sit between us and 127.0.0.1.
        return httpx.Client(
            base_url=self.base_url.rstrip("/") + API,
            headers=self._authorization(persona),
            timeout=30.0,
            trust_env=False,
        )

    def loop_client(self, persona: str) -> KeepAliveClient:
        """For the measured requests: the lighter client (see loadclient.py)."""
        return KeepAliveClient(self.base_url.rstrip("/") + API, self._authorization(persona))

    def log_position(self) -> int:
        if self.server_log is None or not self.server_log.exists():
            return 0
        return self.server_log.stat().st_size

    def _log_since(self, position: int) -> str:
        if self.server_log is None or not self.server_log.exists():
            return ""
        with self.server_log.open("rb") as handle:
            handle.seek(position)
            return handle.read().decode("utf-8", "replace")

    def first_exception_since(self, position: int) -> str | None:
        """The first exception line the server logged since `position`: why a 500 happened."""
        found = EXCEPTION_LINE.search(self._log_since(position))
        return found.group(0)[:300] if found else None

    def locked_in_log_since(self, position: int) -> int:
        """Log records mentioning `database is locked` since `position`: the body of a 500 hides
        the cause, and a failed request-log write is only logged. One record per traceback."""
        return sum(LOCKED in record.lower() for record in LOG_RECORD.split(self._log_since(position)))


@dataclass
class Outcome:
    """What one timed operation did: how many requests, and the first problem if any."""

    requests: int = 1
    error: str | None = None
    locked: bool = False


@dataclass
class Sample:
    """Everything measured for one scenario at one client count."""

    latencies: list[float] = field(default_factory=list)  # seconds, one per operation
    requests: int = 0
    errors: int = 0
    locked: int = 0
    first_error: str | None = None
    elapsed: float = 0.0  # from the end of the warm-up to the last measured operation's end
    last_end: float = 0.0  # perf_counter() at the last measured operation's end

    def add(self, started: float, ended: float, outcome: Outcome) -> None:
        self.latencies.append(ended - started)
        self.last_end = max(self.last_end, ended)
        self.requests += outcome.requests
        if outcome.error is not None:
            self.errors += 1
            if self.first_error is None:
                self.first_error = outcome.error
        if outcome.locked:
            self.locked += 1


def outcome_of(responses: Sequence[Response]) -> Outcome:
    outcome = Outcome(requests=len(responses))
    for response in responses:
        if response.is_success:
            continue
        body = response.text
        outcome.locked = outcome.locked or LOCKED in body.lower()
        if outcome.error is None:
            outcome.error = (
                f"HTTP {response.status_code} {response.request.method} {response.request.url.path}: "
                f"{body[:500]}"
            )
    return outcome


def timed_loop(
    operations: Sequence[Callable[[int], Outcome]],
    duration: float,
    warmup: float,
    processes: bool = False,
) -> Sample:
    """Run each operation in its own thread (or forked process), all at once, for `warmup` then
    `duration` seconds.

    Operations that end after the warm-up are measured, so one that hangs across the boundary is
    still counted (a stalled server must not report an empty, clean run). Each callable receives
    its own iteration number, so it can rotate over records without sharing state with the others.

    With `processes`, each client is a forked process: 8 client threads of one Python process take
    turns on its GIL, and a thread whose response has arrived may wait for it (up to the 5 ms switch
    interval) with the clock running, which the server would be blamed for.
    """
    if processes:
        context = multiprocessing.get_context("fork")
        start: Any = context.Barrier(len(operations) + 1)
        window: Any = context.Array("d", 2, lock=False)  # measure from, stop at: set before the start
    else:
        start = threading.Barrier(len(operations) + 1)
        window = [0.0, 0.0]

    def work(index: int) -> Sample:
        operation, sample = operations[index], Sample()
        start.wait()
        measure_from, stop_at = window[0], window[1]
        n = 0
        while (started := time.perf_counter()) < stop_at:
            try:
                outcome = operation(n)
            except Exception as exc:  # a failing operation is a measured error, not a crash
                outcome = Outcome(error=f"{type(exc).__name__}: {exc}")
            ended = time.perf_counter()
            n += 1
            if ended >= measure_from:
                sample.add(started, ended, outcome)
        return sample

    samples: list[Sample] = []
    if processes:
        channels = [context.Pipe(duplex=False) for _ in operations]
        workers = [
            context.Process(target=lambda i=i: channels[i][1].send(work(i)), daemon=True)
            for i in range(len(operations))
        ]
        for worker in workers:
            worker.start()
        _open_window(window, warmup, duration)
        start.wait()
        samples = [receiving.recv() for receiving, _ in channels]
        for worker in workers:
            worker.join()
    else:
        results: list[Sample] = [Sample() for _ in operations]
        threads = [
            threading.Thread(target=lambda i=i: results.__setitem__(i, work(i)), daemon=True)
            for i in range(len(operations))
        ]
        for thread in threads:
            thread.start()
        _open_window(window, warmup, duration)
        start.wait()
        for thread in threads:
            thread.join()
        samples = results

    merged = Sample()
    for sample in samples:
        merged.latencies.extend(sample.latencies)
        merged.requests += sample.requests
        merged.errors += sample.errors
        merged.locked += sample.locked
        merged.first_error = merged.first_error or sample.first_error
        merged.last_end = max(merged.last_end, sample.last_end)
    if merged.latencies:
        merged.elapsed = merged.last_end - window[0]
    return merged


def _open_window(window: Any, warmup: float, duration: float) -> None:
    """Every client is started and waiting: the clock starts now (perf_counter is system-wide)."""
    now = time.perf_counter()
    window[0], window[1] = now + warmup, now + warmup + duration


# -- helpers for preparing scenarios -------------------------------------------------------------


def expect(response: httpx.Response) -> Any:
    """The JSON body of a setup request; NotAvailable on 404/405, SetupFailed on other errors."""
    where = f"{response.request.method} {response.request.url.path}"
    if response.status_code in (404, 405):
        raise NotAvailable(f"{where} answered {response.status_code}", response.status_code)
    if not response.is_success:
        raise SetupFailed(
            f"{where} answered {response.status_code}: {response.text[:300]}", response.status_code
        )
    return response.json() if response.content else None


def items_of(body: Any) -> list[dict[str, Any]]:
    """`{"items": [...]}` pages, or a bare list."""
    if isinstance(body, dict):
        return list(body.get("items") or [])
    return list(body or [])


def spread(values: Sequence[Any], worker: int, n: int) -> Any:
    """A different record per worker and per iteration, without shared state."""
    return values[(worker * 7919 + n) % len(values)]


@dataclass
class Workload:
    """Data discovered once and shared by the scenarios: record ids and search terms."""

    organisation_ids: list[int]
    search_terms: list[str]
    max_clients: int
    tag: str  # makes the names of records created by this run unique


def discover(target: Target, max_clients: int) -> Workload:
    """Read ids and realistic search terms (name prefixes, cities, last names) through the API."""
    rng = random.Random(7)
    with target.client("admin") as http:
        organisations = items_of(expect(http.get("/organisations", params={"sort": "name", "limit": 200})))
        contacts = http.get("/contacts", params={"sort": "last_name", "limit": 200})
        people = items_of(contacts.json()) if contacts.is_success else []
    words: list[str] = []
    for org in organisations:
        first = next((w for w in search_tokens(org.get("name") or "") if len(w) >= 4), None)
        if first:
            words.append(first[:5])  # people type the start of a name
        if org.get("city"):
            words.append(org["city"])
    words.extend(p["last_name"] for p in people if p.get("last_name"))
    terms = sorted(set(words))
    rng.shuffle(terms)
    return Workload(
        organisation_ids=[org["id"] for org in organisations],
        search_terms=terms[:40] or ["paris"],
        max_clients=max_clients,
        tag=f"{int(time.time()) % 1_000_000:06d}",
    )


# -- HTTP scenarios ------------------------------------------------------------------------------


class HttpScenario(ABC):
    """One user operation, timed as a whole (it may take several requests)."""

    name = ""
    persona = "admin"
    goal: Goal | None = None
    description = ""

    def prepare(self, target: Target, http: httpx.Client, workload: Workload) -> None:  # noqa: B027
        """Find the records the operation needs; raise NotAvailable when an endpoint is missing.
        Optional: an operation that needs nothing prepared keeps this default."""

    @abstractmethod
    def operation(self, http: Http, worker: int, n: int) -> list[Response]:
        """The requests of one operation."""


def sales_department(target: Target) -> int:
    if target.sales_department_id is None:
        raise Skipped("the sales user's department is unknown (pass --sales-department-id)")
    return target.sales_department_id


class ListRecords(HttpScenario):
    """First page of a list, sorted, optionally filtered on the user's own department."""

    def __init__(
        self,
        name: str,
        resource: str,
        sort: str,
        persona: str = "admin",
        own_department: bool = False,
        goal: Goal | None = None,
    ) -> None:
        self.name, self.resource, self.sort, self.persona = name, resource, sort, persona
        self.own_department, self.goal = own_department, goal
        where = ", filtered on the sales user's department" if own_department else ""
        self.description = f"GET {API}/{resource}?sort={sort}&limit={LIST_LIMIT}{where}"
        self.params: dict[str, Any] = {}

    def prepare(self, target: Target, http: httpx.Client, workload: Workload) -> None:
        self.params = {"sort": self.sort, "limit": LIST_LIMIT}
        if self.own_department:
            self.params["department_id"] = sales_department(target)
        expect(http.get(f"/{self.resource}", params=self.params))

    def operation(self, http: Http, worker: int, n: int) -> list[Response]:
        return [http.get(f"/{self.resource}", params=self.params)]


class DetailWithTimeline(HttpScenario):
    """A record page: the record, then its latest 20 timeline items."""

    def __init__(self, name: str, resource: str, sort: str, goal: Goal | None = None) -> None:
        self.name, self.resource, self.sort, self.goal = name, resource, sort, goal
        self.description = f"GET {API}/{resource}/{{id}} + GET {API}/{resource}/{{id}}/timeline?limit=20"
        self.ids: list[int] = []

    def prepare(self, target: Target, http: httpx.Client, workload: Workload) -> None:
        page = expect(http.get(f"/{self.resource}", params={"sort": self.sort, "limit": 200}))
        self.ids = [row["id"] for row in items_of(page)]
        if not self.ids:
            raise SetupFailed(f"no {self.resource} to read")
        expect(http.get(f"/{self.resource}/{self.ids[0]}"))
        expect(http.get(f"/{self.resource}/{self.ids[0]}/timeline", params={"limit": 20}))

    def operation(self, http: Http, worker: int, n: int) -> list[Response]:
        record_id = spread(self.ids, worker, n)
        detail = http.get(f"/{self.resource}/{record_id}")
        return [detail, http.get(f"/{self.resource}/{record_id}/timeline", params={"limit": 20})]


class Search(HttpScenario):
    def __init__(self, persona: str, goal: Goal | None = None) -> None:
        self.name, self.persona, self.goal = "search", persona, goal
        self.description = (
            f"GET {API}/search?q=<term>&limit=10, rotating over name prefixes, cities, last names"
        )
        self.terms: list[str] = []

    def prepare(self, target: Target, http: httpx.Client, workload: Workload) -> None:
        self.terms = workload.search_terms
        expect(http.get("/search", params={"q": self.terms[0], "limit": 10}))

    def operation(self, http: Http, worker: int, n: int) -> list[Response]:
        return [http.get("/search", params={"q": spread(self.terms, worker, n), "limit": 10})]


def open_stages(pipeline: dict[str, Any]) -> list[dict[str, Any]]:
    stages = [s for s in pipeline.get("stages") or [] if s.get("kind") == "open"]
    return sorted(stages, key=lambda s: (s.get("position") or 0, s["id"]))


def pick_pipeline(http: httpx.Client) -> dict[str, Any]:
    """The first pipeline with two open stages (what moving a deal needs), else the first one."""
    pipelines = items_of(expect(http.get("/pipelines")))
    if not pipelines:
        raise SetupFailed("no pipeline")
    return next((p for p in pipelines if len(open_stages(p)) >= 2), pipelines[0])


class DealList(HttpScenario):
    name = "deal list"
    description = f"GET {API}/deals?pipeline_id=<id>&limit={LIST_LIMIT}"

    def prepare(self, target: Target, http: httpx.Client, workload: Workload) -> None:
        self.params = {"pipeline_id": pick_pipeline(http)["id"], "limit": LIST_LIMIT}
        expect(http.get("/deals", params=self.params))

    def operation(self, http: Http, worker: int, n: int) -> list[Response]:
        return [http.get("/deals", params=self.params)]


class Kanban(HttpScenario):
    name = "kanban board"
    goal = Goal("p95_ms", 100)
    description = f"GET {API}/pipelines/{{id}}/board (every column with its deals)"

    def prepare(self, target: Target, http: httpx.Client, workload: Workload) -> None:
        self.path = f"/pipelines/{pick_pipeline(http)['id']}/board"
        expect(http.get(self.path))

    def operation(self, http: Http, worker: int, n: int) -> list[Response]:
        return [http.get(self.path)]


class MoveDeal(HttpScenario):
    name = "move deal"
    goal = Goal("p95_ms", 30)
    description = (
        f"PATCH {API}/deals/{{id}} {{stage_id}}, alternating between two open stages; one deal per client"
    )

    def prepare(self, target: Target, http: httpx.Client, workload: Workload) -> None:
        pipeline = pick_pipeline(http)
        stages = open_stages(pipeline)
        if len(stages) < 2:
            raise SetupFailed(f"pipeline {pipeline['id']} has fewer than two open stages")
        self.stage_a, self.stage_b = stages[0]["id"], stages[1]["id"]
        open_ids = {s["id"] for s in stages}
        deals = items_of(expect(http.get("/deals", params={"pipeline_id": pipeline["id"], "limit": 200})))
        movable = [d for d in deals if d.get("stage_id") in open_ids]
        if not movable:
            raise SetupFailed(f"no open deal in pipeline {pipeline['id']}")
        # One deal per client, so concurrent clients never race on the same row.
        self.deals = [d["id"] for d in movable[: workload.max_clients]]
        self.stage_of = {d["id"]: d["stage_id"] for d in movable}

    def operation(self, http: Http, worker: int, n: int) -> list[Response]:
        deal = self.deals[worker % len(self.deals)]
        if n == 0:  # a forked client starts from its parent's memory: read where the deal is now
            self.stage_of[deal] = http.get(f"/deals/{deal}").json()["stage_id"]
        stage = self.stage_b if self.stage_of[deal] == self.stage_a else self.stage_a
        response = http.patch(f"/deals/{deal}", json={"stage_id": stage})
        if response.is_success:
            self.stage_of[deal] = stage
        return [response]


def organisation_payload(workload: Workload, worker: int, n: int) -> dict[str, Any]:
    return {"name": f"Bench {workload.tag}-{worker}-{n}", "city": "Lyon", "type": "prospect"}


def contact_payload(workload: Workload, worker: int, n: int) -> dict[str, Any]:
    return {
        "first_name": "Camille",
        "last_name": f"Bench {workload.tag}-{worker}-{n}",
        "emails": [f"camille.{workload.tag}.{worker}.{n}@bench.example"],
        "phones": ["+33 6 12 34 56 78"],
        "organisation_ids": [spread(workload.organisation_ids, worker, n)]
        if workload.organisation_ids
        else [],
    }


def created_id(response: httpx.Response) -> int:
    return int(expect(response)["id"])


class Create(HttpScenario):
    """POST a new record each time."""

    def __init__(
        self,
        name: str,
        resource: str,
        payload: Callable[[Workload, int, int], dict[str, Any]],
        goal: Goal | None,
    ) -> None:
        self.name, self.resource, self.payload, self.goal = name, resource, payload, goal
        self.description = f"POST {API}/{resource}"

    def prepare(self, target: Target, http: httpx.Client, workload: Workload) -> None:
        self.workload = workload
        created_id(http.post(f"/{self.resource}", json=self.payload(workload, 999, 0)))

    def operation(self, http: Http, worker: int, n: int) -> list[Response]:
        return [http.post(f"/{self.resource}", json=self.payload(self.workload, worker, n + 1))]


class Update(HttpScenario):
    """PATCH one field of a record the client owns (created while preparing, one per client)."""

    def __init__(
        self,
        name: str,
        resource: str,
        payload: Callable[[Workload, int, int], dict[str, Any]],
        change: Callable[[int], dict[str, Any]],
        field_name: str,
    ) -> None:
        self.name, self.resource, self.payload, self.change = name, resource, payload, change
        self.description = f"PATCH {API}/{resource}/{{id}} {{{field_name}}}, one record per client"
        self.ids: list[int] = []

    def prepare(self, target: Target, http: httpx.Client, workload: Workload) -> None:
        self.ids = [
            created_id(http.post(f"/{self.resource}", json=self.payload(workload, 1000 + w, 0)))
            for w in range(workload.max_clients)
        ]

    def operation(self, http: Http, worker: int, n: int) -> list[Response]:
        return [http.patch(f"/{self.resource}/{self.ids[worker]}", json=self.change(n))]


class WriteConcurrency(HttpScenario):
    """Every client creates and updates organisations, and contacts when they exist, at once."""

    name = "write concurrency"

    def __init__(self, sqlite: bool) -> None:
        self.goal = Goal("locked", 0) if sqlite else None
        self.description = (
            "each client cycles create organisation, update it, create contact, update it "
            "(contacts when available); counts errors and `database is locked`"
        )
        self.last: dict[tuple[int, str], int] = {}

    def prepare(self, target: Target, http: httpx.Client, workload: Workload) -> None:
        self.workload = workload
        created_id(http.post("/organisations", json=organisation_payload(workload, 2000, 0)))
        try:
            created_id(http.post("/contacts", json=contact_payload(workload, 2000, 0)))
            self.steps = ("organisations", "organisations", "contacts", "contacts")
        except NotAvailable:
            self.steps = ("organisations", "organisations")
        self.description += f"; this run: {', '.join(sorted(set(self.steps)))}"

    def operation(self, http: Http, worker: int, n: int) -> list[Response]:
        step = n % len(self.steps)
        resource = self.steps[step]
        key = (worker, resource)
        if step % 2 == 0 or key not in self.last:
            make = organisation_payload if resource == "organisations" else contact_payload
            response = http.post(f"/{resource}", json=make(self.workload, 3000 + worker, n))
            if response.is_success:
                self.last[key] = response.json()["id"]
            return [response]
        change = (
            {"description": f"bench {n}"} if resource == "organisations" else {"job_title": f"Acheteur {n}"}
        )
        return [http.patch(f"/{resource}/{self.last[key]}", json=change)]


def read_scenarios() -> list[HttpScenario]:
    list_goal, search_goal = Goal("p95_ms", 30), Goal("p95_ms", 50)
    return [
        ListRecords("organisation list", "organisations", "name"),
        ListRecords("organisation list", "organisations", "name", "sales", own_department=True),
        DetailWithTimeline("organisation detail + timeline", "organisations", "name"),
        ListRecords("contact list", "contacts", "last_name", goal=list_goal),
        ListRecords("contact list", "contacts", "last_name", "sales", own_department=True, goal=list_goal),
        DetailWithTimeline("contact detail + timeline", "contacts", "last_name", goal=Goal("p95_ms", 40)),
        Search("admin", search_goal),
        Search("sales", search_goal),
        DealList(),
        Kanban(),
    ]


def write_scenarios() -> list[HttpScenario]:
    return [
        Create("create organisation", "organisations", organisation_payload, None),
        Update(
            "update organisation",
            "organisations",
            organisation_payload,
            lambda n: {"description": f"bench {n}"},
            "description",
        ),
        Create("create contact", "contacts", contact_payload, Goal("p95_ms", 30)),
        Update(
            "update contact",
            "contacts",
            contact_payload,
            lambda n: {"job_title": f"Acheteur {n}"},
            "job_title",
        ),
        MoveDeal(),
    ]


def http_operations(scenario: HttpScenario, target: Target, clients: int) -> list[Callable[[int], Outcome]]:
    """One operation per client. Each opens its own connection on its first call, so that a
    forked client process never shares a socket with another."""

    def bind(worker: int) -> Callable[[int], Outcome]:
        http: KeepAliveClient | None = None

        def run(n: int) -> Outcome:
            nonlocal http
            http = http or target.loop_client(scenario.persona)
            return outcome_of(scenario.operation(http, worker, n))

        return run

    return [bind(worker) for worker in range(clients)]


# -- the same queries directly in SQL ------------------------------------------------------------


def visibility(conn: Connection, table: Table, record_type: str, target: Target, persona: str) -> Any:
    """The clause `carnet.core.permissions.visible` builds, for an admin or the sales user."""
    if persona == "admin":
        return true()
    if target.sales_user_id is None or target.sales_department_id is None:
        raise Skipped("the sales user is unknown")
    scope = conn.execute(
        text("SELECT scope FROM visibility_rules WHERE record_type = :rt"), {"rt": record_type}
    ).scalar()
    mine = table.c.owner_id == target.sales_user_id
    if scope == "all":
        return true()
    if scope == "own":  # the sales role is not a manager
        return mine
    return or_(mine, table.c.department_id == target.sales_department_id)


def visibility_kind(conn: Connection, record_type: str, target: Target, persona: str) -> str:
    """The kind of clause `visibility` builds (`carnet.core.permissions.visibility`)."""
    if persona == "admin":
        return "all"
    if target.sales_user_id is None or target.sales_department_id is None:
        raise Skipped("the sales user is unknown")
    scope = conn.execute(
        text("SELECT scope FROM visibility_rules WHERE record_type = :rt"), {"rt": record_type}
    ).scalar()
    return {"all": "all", "own": "own"}.get(scope or "", "department")


def reflect(conn: Connection, name: str) -> Table:
    if not inspect(conn).has_table(name):
        raise NotAvailable(f"no table {name}")
    return Table(name, MetaData(), autoload_with=conn)


class SqlScenario(ABC):
    """A query the API runs, sent straight to the database: what the API adds on top shows."""

    name = ""
    persona = "admin"
    description = ""

    @abstractmethod
    def prepare(self, conn: Connection, target: Target, workload: Workload) -> None:
        """Find the parameters of the query."""

    @abstractmethod
    def execute(self, conn: Connection, n: int) -> None:
        """Run the query once."""


class SqlList(SqlScenario):
    def __init__(
        self,
        name: str,
        table: str,
        record_type: str,
        sort: str,
        persona: str = "admin",
        own_department: bool = False,
    ) -> None:
        self.name, self.table, self.record_type, self.sort = name, table, record_type, sort
        self.persona, self.own_department = persona, own_department
        self.description = f"SELECT * FROM {table} ORDER BY {sort}, id LIMIT {LIST_LIMIT + 1}" + (
            " with the department filter and the visibility clause" if own_department else ""
        )

    def prepare(self, conn: Connection, target: Target, workload: Workload) -> None:
        table = reflect(conn, self.table)
        stmt: Select[Any] = select(table).where(
            visibility(conn, table, self.record_type, target, self.persona)
        )
        if self.own_department:
            stmt = stmt.where(table.c.department_id == sales_department(target))
        # Same shape as core/listing.py: NULLs last, id as tie-breaker, one extra row for the cursor.
        self.stmt = stmt.order_by(table.c[self.sort].asc().nulls_last(), table.c.id.asc()).limit(
            LIST_LIMIT + 1
        )

    def execute(self, conn: Connection, n: int) -> None:
        conn.execute(self.stmt).fetchall()


class SqlSearch(SqlScenario):
    def __init__(self, persona: str) -> None:
        self.name, self.persona = "search", persona
        self.description = (
            "the statement the API runs (carnet.core.search.search_statement): FTS5 MATCH (SQLite) or "
            "the tsvector and prefix indexes (PostgreSQL), visibility per record type, LIMIT 10"
        )

    def prepare(self, conn: Connection, target: Target, workload: Workload) -> None:
        docs = reflect(conn, "search_documents")
        record_types = conn.execute(select(docs.c.record_type).distinct()).scalars().all()
        types_of: dict[str, list[str]] = {}
        for rt in record_types:
            types_of.setdefault(visibility_kind(conn, rt, target, self.persona), []).append(rt)
        self.queries = []
        for term in workload.search_terms:
            tokens = search_tokens(term)[:8]
            if tokens:
                self.queries.append(
                    search_statement(
                        conn.dialect.name,
                        tokens,
                        10,
                        types_of,
                        target.sales_user_id,
                        target.sales_department_id,
                    )
                )
        if not self.queries:
            raise SetupFailed("no search terms")

    def execute(self, conn: Connection, n: int) -> None:
        statement, params = self.queries[n % len(self.queries)]
        conn.execute(statement, params).fetchall()


def sql_scenarios() -> list[SqlScenario]:
    return [
        SqlList("organisation list", "organisations", "organisation", "name"),
        SqlList("organisation list", "organisations", "organisation", "name", "sales", own_department=True),
        SqlList("contact list", "contacts", "contact", "last_name"),
        SqlList("contact list", "contacts", "contact", "last_name", "sales", own_department=True),
        SqlSearch("admin"),
        SqlSearch("sales"),
    ]


def sql_operation(scenario: SqlScenario, conn: Connection) -> Callable[[int], Outcome]:
    def run(n: int) -> Outcome:
        scenario.execute(conn, n)
        return Outcome()

    return run


def prepare_sql(scenario: SqlScenario, engine: Engine, target: Target, workload: Workload) -> None:
    with engine.connect() as conn:
        scenario.prepare(conn, target, workload)


# -- imports -------------------------------------------------------------------------------------

IMPORT_COLUMNS = ("first_name", "last_name", "email", "phone", "job_title")
# CSV column -> contact field, as sent to POST /imports/{id}/mapping before /run.
IMPORT_MAPPING = {
    "first_name": "first_name",
    "last_name": "last_name",
    "email": "emails",
    "phone": "phones",
    "job_title": "job_title",
}
FIRST_NAMES = ("Camille", "Léa", "Hugo", "Chloé", "Lucas", "Manon", "Louis", "Inès", "Jules", "Zoé")
LAST_NAMES = (
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
)
JOB_TITLES = ("Directrice achats", "Gérant", "Responsable RH", "Comptable", "Chef de projet")


def import_csv(rows: int, tag: str) -> bytes:
    """A contacts CSV with unique e-mails (so nothing is merged as a duplicate) and valid mobiles."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(IMPORT_COLUMNS)
    for i in range(rows):
        first, last = FIRST_NAMES[i % 10], LAST_NAMES[(i // 10) % 10]
        writer.writerow(
            [
                first,
                last,
                f"{first.lower()}.{last.lower()}.{tag}.{i}@import.bench.example",
                f"06 {12 + i % 80:02d} {i // 10_000 % 100:02d} {i // 100 % 100:02d} {i % 100:02d}",
                JOB_TITLES[i % len(JOB_TITLES)],
            ]
        )
    return out.getvalue().encode("utf-8")


@dataclass
class ImportResult:
    path: str
    rows: int
    status: str = "ok"  # ok | not available | setup failed | failed
    seconds: float | None = None
    note: str = ""
    goal: Goal = field(default_factory=lambda: Goal("rows_per_s", 10_000))

    @property
    def rows_per_s(self) -> float | None:
        return self.rows / self.seconds if self.seconds else None


FINISHED_BADLY = {"failed", "error", "cancelled", "canceled"}


def run_api_import(target: Target, rows: int, tag: str) -> ImportResult:
    """Upload, run with a mapping, poll until done: the whole wall-clock time counts."""
    result = ImportResult(f"API: POST {API}/imports, /run, poll", rows)
    data = import_csv(rows, f"api{tag}")
    try:
        with target.client("admin") as http:
            started = time.perf_counter()
            upload = expect(
                http.post(
                    "/imports",
                    files={"file": ("bench-contacts.csv", data, "text/csv")},
                    data={"record_type": "contacts"},
                )
            )
            import_id = upload["id"]
            expect(
                http.post(
                    f"/imports/{import_id}/mapping",
                    json={"mapping": IMPORT_MAPPING, "duplicate_mode": "create"},
                )
            )
            expect(http.post(f"/imports/{import_id}/run"))
            deadline = started + max(120.0, rows / 100)
            while True:
                state = expect(http.get(f"/imports/{import_id}"))
                status = state.get("status")
                if status == "done":
                    break
                if status in FINISHED_BADLY:
                    raise SetupFailed(f"import {import_id} ended {status}: {json.dumps(state)[:300]}")
                if time.perf_counter() > deadline:
                    raise SetupFailed(f"import {import_id} still {status} after {deadline - started:.0f} s")
                time.sleep(0.02)
            result.seconds = time.perf_counter() - started
            result.note = json.dumps({k: v for k, v in state.items() if k != "log"}, ensure_ascii=False)[:300]
    except Skipped as exc:
        result.status, result.note = exc.status, exc.reason
    except httpx.HTTPError as exc:
        result.status, result.note = "failed", f"{type(exc).__name__}: {exc}"
    return result


def run_cli_import(target: Target, rows: int, tag: str) -> ImportResult:
    """`carnet import --type contacts FILE`, timed from outside (interpreter start-up included)."""
    result = ImportResult("CLI: carnet import --type contacts FILE", rows)
    if target.carnet_command is None or target.work_dir is None:
        result.status, result.note = "not available", "needs an orchestrated run (no --base-url)"
        return result
    command, env = target.carnet_command, target.carnet_env
    probe = subprocess.run([*command, "import", "--help"], env=env, capture_output=True, text=True)
    if probe.returncode != 0:
        result.status = "not available"
        result.note = f"`carnet import --help` exited with {probe.returncode}"
        return result
    path = target.work_dir / f"import-cli-{tag}.csv"
    path.write_bytes(import_csv(rows, f"cli{tag}"))
    try:
        started = time.perf_counter()
        done = subprocess.run(
            [
                *command,
                "import",
                "--type",
                "contacts",
                "--duplicates",
                "create",
                "--email",
                "admin@carnet.demo",
                str(path),
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        elapsed = time.perf_counter() - started
    finally:
        path.unlink(missing_ok=True)
    if done.returncode != 0:
        result.status = "failed"
        result.note = f"exit code {done.returncode}: {(done.stderr or done.stdout).strip()[-300:]}"
    else:
        result.seconds = elapsed
        result.note = done.stdout.strip().splitlines()[-1][:300] if done.stdout.strip() else ""
    return result
