"""What this machine allows: the benchmark's requests with the least Python they can cost.

    python bench/floor.py --database-url URL --token T [--clients 1,8] [--duration 10]
        [--workers 2] [--import-rows 20000] [--only list,create,import]

The goals of bench/run.py are latencies at 8 concurrent clients, on a machine where the clients,
the server and PostgreSQL share the same cores. This script measures the floor under them, on the
same database, with the same load client (bench/loadclient.py, one forked process per client):

- a raw ASGI application (no framework, no ORM, psycopg's async connections, 4 per worker
  process), served by uvicorn with `--workers` processes, answering the same two requests as the
  scenarios: `GET /api/v1/contacts?sort=last_name&limit=50` (token lookup, then the page of 50)
  and `POST /api/v1/contacts` (token lookup, organisation check, the contact, its organisation
  link, the audit entry chained under the chain's lock, the event, the search document, one
  commit, then the request log line: what Carnet writes for a new contact);
- an import without validation: the rows a contacts import writes (contacts, search documents,
  audit entries with their hash chain, events, row outcomes), COPY per table, 1,000 rows per
  transaction, reporting this process's CPU and the database backend's CPU per row.

If the floor already misses a goal at 8 clients, no implementation in Python can meet it on this
machine: the figure to compare Carnet with is the floor, not the goal. PostgreSQL only. It writes
contacts, audit entries (a valid chain: `carnet audit verify` still passes) and events into the
database it is given: point it at bench data, never at real data.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import psycopg  # noqa: E402
from psycopg.types.json import Jsonb  # noqa: E402

from carnet.core.audit import compute_hash  # noqa: E402
from carnet.core.security import digest  # noqa: E402

CONNECTIONS_PER_WORKER = 4
LIST_PATH = "/api/v1/contacts?sort=last_name&limit=50"

_TOKEN = (
    "SELECT t.id, u.id, u.department_id FROM api_tokens t JOIN users u ON u.id = t.user_id"
    " WHERE t.token_digest = %s AND t.revoked_at IS NULL AND u.active"
)
_PAGE_FIELDS = [
    "id",
    "civility",
    "first_name",
    "last_name",
    "job_title",
    "emails",
    "phones",
    "owner_id",
    "department_id",
    "created_at",
    "updated_at",
    "version",
    "custom_fields",
]
_PAGE = f"SELECT {', '.join(_PAGE_FIELDS)} FROM contacts ORDER BY last_name ASC NULLS LAST, id LIMIT 51"


def libpq_url(url: str) -> str:
    """psycopg takes `postgresql://`; Carnet's settings name the SQLAlchemy driver too."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


# -- the floor server: one ASGI callable, no framework ------------------------------------------

_pool: asyncio.Queue[psycopg.AsyncConnection[Any]] | None = None


async def _startup() -> None:
    global _pool
    _pool = asyncio.Queue()
    for _ in range(CONNECTIONS_PER_WORKER):
        _pool.put_nowait(
            await psycopg.AsyncConnection.connect(os.environ["CARNET_FLOOR_DSN"], autocommit=True)
        )


async def _create_contact(
    cur: psycopg.AsyncCursor[Any], user: tuple[int, int, int], data: dict[str, Any]
) -> dict:
    token_id, user_id, department_id = user
    now = datetime.now(UTC)
    await cur.execute("SELECT id FROM organisations WHERE id = ANY(%s)", (data["organisation_ids"],))
    await cur.fetchall()
    await cur.execute(
        "INSERT INTO contacts (first_name, last_name, emails, phones, primary_email, marketing_consent,"
        " do_not_call, created_at, updated_at, created_by_id, updated_by_id, owner_id, department_id,"
        " version, custom_fields) VALUES (%s, %s, %s, %s, %s, 'unknown', false, %s, %s, %s, %s, %s, %s,"
        " 1, '{}') RETURNING id",
        (
            data["first_name"],
            data["last_name"],
            Jsonb(data["emails"]),
            Jsonb(data["phones"]),
            data["emails"][0],
            now,
            now,
            user_id,
            user_id,
            user_id,
            department_id,
        ),
    )
    row = await cur.fetchone()
    assert row is not None
    contact_id = row[0]
    for position, organisation_id in enumerate(data["organisation_ids"]):
        await cur.execute(
            "INSERT INTO contact_organisations (contact_id, organisation_id, is_primary, position)"
            " VALUES (%s, %s, %s, %s)",
            (contact_id, organisation_id, position == 0, position),
        )
    changes = {key: {"old": None, "new": value} for key, value in sorted(data.items())}
    await _append_audit(cur, now, user_id, [(contact_id, data["last_name"], changes)])
    await cur.execute(
        "INSERT INTO events (event_id, type, record_type, record_id, actor_id, occurred_at, payload)"
        " VALUES (%s, 'contact.created', 'contact', %s, %s, %s, %s)",
        (uuid.uuid4().hex, contact_id, user_id, now, Jsonb({"id": contact_id, **data})),
    )
    name = f"{data['first_name']} {data['last_name']}"
    await cur.execute(
        "INSERT INTO search_documents (record_type, record_id, title, subtitle, body, owner_id,"
        " department_id) VALUES ('contact', %s, %s, '', %s, %s, %s)",
        (contact_id, name, f"{name} {' '.join(data['emails'])}".lower(), user_id, department_id),
    )
    return {"id": contact_id, **data, "created_at": now.isoformat(), "updated_at": now.isoformat()}


async def _append_audit(
    cur: psycopg.AsyncCursor[Any], now: datetime, user_id: int, entries: list[tuple[int, str, dict]]
) -> None:
    """Audit entries chained as carnet.core.audit chains them: `carnet audit verify` passes."""
    await cur.execute("SELECT pg_advisory_xact_lock(7301)")
    await cur.execute("SELECT seq, entry_hash FROM audit_entries ORDER BY seq DESC LIMIT 1")
    last = await cur.fetchone()
    seq, prev_hash = last if last else (0, "0" * 64)
    for record_id, summary, changes in entries:
        seq += 1
        values = _audit_values(seq, now, user_id, record_id, summary, changes, prev_hash)
        await cur.execute(
            "INSERT INTO audit_entries (seq, occurred_at, actor_id, actor_label, action, record_type,"
            " record_id, summary, changes, ip, user_agent, request_id, prev_hash, entry_hash)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [Jsonb(v) if k == "changes" else v for k, v in values.items()],
        )
        prev_hash = values["entry_hash"]
    await cur.execute("UPDATE audit_head SET seq = %s, entry_hash = %s WHERE id = 1", (seq, prev_hash))


def _audit_values(
    seq: int, now: datetime, user_id: int, record_id: int, summary: str, changes: dict, prev_hash: str
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "seq": seq,
        "occurred_at": now,
        "actor_id": user_id,
        "actor_label": "floor",
        "action": "create",
        "record_type": "contact",
        "record_id": record_id,
        "summary": summary,
        "changes": changes,
        "ip": "127.0.0.1",
        "user_agent": None,
        "request_id": None,
        "prev_hash": prev_hash,
    }
    values["entry_hash"] = compute_hash(prev_hash, values)
    return values


async def _read_body(receive: Any) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def _answer(send: Any, status: int, payload: Any, content_type: bytes = b"application/json") -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await _startup()
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["path"] == "/healthz":
        await _answer(send, 200, {"status": "ok"})
        return
    authorization = dict(scope["headers"]).get(b"authorization", b"").decode()
    body = await _read_body(receive) if scope["method"] == "POST" else b""
    assert _pool is not None
    conn = await _pool.get()
    try:
        async with conn.cursor() as cur:
            await cur.execute(_TOKEN, (digest(authorization.removeprefix("Bearer ").strip()),))
            user = await cur.fetchone()
            if user is None:
                await _answer(send, 401, {"title": "Not authenticated"})
                return
            if scope["method"] == "POST":
                async with conn.transaction():
                    payload = await _create_contact(cur, user, json.loads(body))
                await cur.execute(
                    "INSERT INTO request_logs (occurred_at, request_id, method, path, status, duration_ms,"
                    " user_id, token_id, ip) VALUES (now(), %s, 'POST', %s, 201, 1, %s, %s, '127.0.0.1')",
                    (uuid.uuid4().hex, scope["path"], user[1], user[0]),
                )
                status = 201
            else:
                await cur.execute(_PAGE)
                rows = await cur.fetchall()
                items = [dict(zip(_PAGE_FIELDS, row, strict=True)) for row in rows[:50]]
                for item in items:
                    item["created_at"] = item["created_at"].isoformat()
                    item["updated_at"] = item["updated_at"].isoformat()
                payload, status = {"items": items, "next_cursor": None}, 200
    finally:
        _pool.put_nowait(conn)
    await _answer(send, status, payload)


# -- the measurements -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def measure_http(args: argparse.Namespace, scenarios: list[str]) -> list[dict[str, Any]]:
    from loadclient import KeepAliveClient
    from report import figures
    from scenarios import Outcome, timed_loop

    port = free_port()
    env = {**os.environ, "CARNET_FLOOR_DSN": libpq_url(args.database_url)}
    command = [sys.executable, "-m", "uvicorn", "floor:app", "--app-dir", str(HERE), "--port", str(port)]
    command += ["--workers", str(args.workers), "--log-level", "warning", "--no-access-log"]
    server = subprocess.Popen(command, env=env)
    base = f"http://127.0.0.1:{port}"
    rows = []
    try:
        _wait_ready(base)
        tag = f"{int(time.time())}"
        organisation_id = _an_organisation(args.database_url)
        for scenario in scenarios:
            for clients in args.clients:

                def operation(index: int, scenario: str = scenario) -> Any:
                    http = KeepAliveClient(base, {"Authorization": f"Bearer {args.token}"})

                    def run(n: int) -> Outcome:
                        if scenario == "contact list":
                            answer = http.get(LIST_PATH)
                        else:
                            answer = http.post(
                                "/api/v1/contacts", json=_contact(tag, index, n, organisation_id)
                            )
                        if answer.is_success:
                            return Outcome()
                        return Outcome(error=f"{answer.status_code} {answer.text[:200]}")

                    return run

                sample = timed_loop(
                    [operation(i) for i in range(clients)], args.duration, args.warmup, processes=True
                )
                row = {"scenario": scenario, "clients": clients, **figures(sample)}
                print(_line(row), file=sys.stderr, flush=True)
                rows.append(row)
    finally:
        server.terminate()
        server.wait(10)
    return rows


def _wait_ready(base: str) -> None:
    import httpx

    for _ in range(300):
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit("the floor server did not start")


def _an_organisation(url: str) -> int:
    with psycopg.connect(libpq_url(url)) as conn:
        row = conn.execute("SELECT min(id) FROM organisations").fetchone()
    if row is None or row[0] is None:
        raise SystemExit("the database holds no organisation: load the demo data first")
    return int(row[0])


def _contact(tag: str, index: int, n: int, organisation_id: int) -> dict[str, Any]:
    """The body of bench/scenarios.py `contact_payload`, phones already in E.164 (no parsing here)."""
    return {
        "first_name": "Camille",
        "last_name": f"Floor {tag}-{index}-{n}",
        "emails": [f"camille.floor.{tag}.{index}.{n}@bench.example"],
        "phones": ["+33612345678"],
        "organisation_ids": [organisation_id],
    }


def _line(row: dict[str, Any]) -> str:
    return (
        f"floor {row['scenario']}, {row['clients']} client(s): p50 {row.get('p50_ms')} ms, "
        f"p95 {row.get('p95_ms')} ms, p99 {row.get('p99_ms')} ms, {row.get('ops_per_s')} ops/s, "
        f"{row['errors']} errors"
    )


def measure_import(url: str, token: str, total: int, chunk: int = 1000) -> dict[str, Any]:
    """COPY the rows a contacts import writes, without validating anything."""
    with psycopg.connect(libpq_url(url)) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        job = conn.execute("SELECT max(id) FROM import_jobs").fetchone()[0]  # type: ignore[index]
        found = conn.execute(_TOKEN, (digest(token),)).fetchone()
        user = found[1:] if found else None
        if job is None or user is None:
            raise SystemExit("run bench/run.py once on this database first: the floor needs an import job")
        conn.commit()
        tag = f"{int(time.time())}"
        first_line = 10**6 + int(tag) % 1000 * 10**5  # lines no import of the bench uses
        cpu_db, cpu_self, wall = _backend_cpu(backend), time.process_time(), time.perf_counter()
        for start in range(0, total, chunk):
            _import_chunk(conn, job, user, tag, first_line + start, min(chunk, total - start))
            conn.commit()
        wall = time.perf_counter() - wall
        cpu_self, cpu_db = time.process_time() - cpu_self, _backend_cpu(backend) - cpu_db
    row = {
        "scenario": "import (COPY, no validation)",
        "rows": total,
        "rows_per_s": round(total / wall),
        "python_us_per_row": round(cpu_self / total * 1e6),
        "database_us_per_row": round(cpu_db / total * 1e6),
    }
    print(
        f"floor import: {row['rows_per_s']} rows/s, per row {row['python_us_per_row']} µs of Python "
        f"and {row['database_us_per_row']} µs of database CPU",
        file=sys.stderr,
        flush=True,
    )
    return row


def _backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _import_chunk(
    conn: psycopg.Connection[Any], job: int, user: tuple[int, int], tag: str, first_line: int, count: int
) -> None:
    user_id, department_id = user
    now = datetime.now(UTC)
    with conn.cursor() as cur:
        ids = [
            row[0]
            for row in cur.execute(
                "SELECT nextval('contacts_id_seq') FROM generate_series(1, %s)", (count,)
            ).fetchall()
        ]
        people = [
            {
                "first_name": "Camille",
                "last_name": f"Floor {tag}-{first_line + i}",
                "emails": [f"camille.{tag}.{first_line + i}@bench.example"],
                "phones": ["+33612345678"],
                "job_title": "Acheteuse",
            }
            for i in range(count)
        ]
        with cur.copy(
            "COPY contacts (id, first_name, last_name, job_title, emails, phones, primary_email,"
            " marketing_consent, do_not_call, created_at, updated_at, created_by_id, updated_by_id,"
            " owner_id, department_id, version, custom_fields) FROM STDIN"
        ) as copy:
            for contact_id, p in zip(ids, people, strict=True):
                emails, phones = json.dumps(p["emails"]), json.dumps(p["phones"])
                row = (contact_id, p["first_name"], p["last_name"], p["job_title"], emails, phones)
                authors = (now, now, user_id, user_id, user_id, department_id)
                copy.write_row((*row, p["emails"][0], "unknown", False, *authors, 1, "{}"))
        with cur.copy(
            "COPY search_documents (record_type, record_id, title, subtitle, body, owner_id,"
            " department_id) FROM STDIN"
        ) as copy:
            for contact_id, p in zip(ids, people, strict=True):
                name = f"{p['first_name']} {p['last_name']}"
                body = f"{name} {p['emails'][0]} 0612345678".lower()
                copy.write_row(("contact", contact_id, name, p["job_title"], body, user_id, department_id))
        cur.execute("SELECT pg_advisory_xact_lock(7301)")
        last = cur.execute("SELECT seq, entry_hash FROM audit_entries ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev_hash = last if last else (0, "0" * 64)
        with cur.copy(
            "COPY audit_entries (seq, occurred_at, actor_id, actor_label, action, record_type,"
            " record_id, summary, changes, ip, user_agent, request_id, prev_hash, entry_hash) FROM STDIN"
        ) as copy:
            for contact_id, p in zip(ids, people, strict=True):
                seq += 1
                changes = {key: {"old": None, "new": value} for key, value in sorted(p.items())}
                values = _audit_values(seq, now, user_id, contact_id, p["last_name"], changes, prev_hash)
                values["changes"] = json.dumps(changes)
                copy.write_row(tuple(values.values()))
                prev_hash = values["entry_hash"]
        cur.execute("UPDATE audit_head SET seq = %s, entry_hash = %s WHERE id = 1", (seq, prev_hash))
        with cur.copy(
            "COPY events (event_id, type, record_type, record_id, actor_id, occurred_at, payload) FROM STDIN"
        ) as copy:
            for contact_id, p in zip(ids, people, strict=True):
                payload = json.dumps({"id": contact_id, **p})
                copy.write_row(
                    (uuid.uuid4().hex, "contact.created", "contact", contact_id, user_id, now, payload)
                )
        with cur.copy(
            "COPY import_rows (job_id, line, status, record_id, record_version, errors) FROM STDIN"
        ) as copy:
            for i, contact_id in enumerate(ids):
                copy.write_row((job, first_line + i, "created", contact_id, 1, "[]"))


def render(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| floor | clients | p50 ms | p95 ms | p99 ms | ops/s | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if "rows_per_s" in row:
            continue
        lines.append(
            f"| {row['scenario']} | {row['clients']} | {row.get('p50_ms')} | {row.get('p95_ms')} "
            f"| {row.get('p99_ms')} | {row.get('ops_per_s')} | {row['errors']} |"
        )
    for row in rows:
        if "rows_per_s" in row:
            lines.append(
                f"\n{row['scenario']}: {row['rows']} rows, **{row['rows_per_s']} rows/s**; per row "
                f"{row['python_us_per_row']} µs of Python and {row['database_us_per_row']} µs of database CPU"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", required=True, help="PostgreSQL with the demo data")
    parser.add_argument("--token", required=True, help="an API token of a user of that database")
    parser.add_argument("--clients", default="1,8", type=lambda v: [int(c) for c in v.split(",")])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--import-rows", type=int, default=20_000)
    parser.add_argument("--only", default="list,create,import")
    args = parser.parse_args(argv)
    if not args.database_url.startswith("postgresql"):
        parser.error("the floor is measured on PostgreSQL")
    only = args.only.split(",")
    scenarios = [name for name in ("contact list", "create contact") if any(w in name for w in only)]
    rows = measure_http(args, scenarios) if scenarios else []
    if "import" in only:
        rows.append(measure_import(args.database_url, args.token, args.import_rows))
    print(render(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
