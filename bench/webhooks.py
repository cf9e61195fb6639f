"""Webhook delivery figures: deliveries per second to a local receiver, and the delay from an
event's commit to its first delivery attempt (p50/p95), with the embedded runner.

    PYTHONPATH=$PWD/src python bench/webhooks.py --db sqlite --events 2000
    PYTHONPATH=$PWD/src python bench/webhooks.py --db postgresql --events 5000 --threads 4
    PYTHONPATH=$PWD/src python bench/webhooks.py --db postgresql --events 1000 --runner inline
    PYTHONPATH=$PWD/src python bench/webhooks.py --db postgresql --events 2000 --runner celery

A fresh database (SQLite file in var/bench, or CARNET_BENCH_DATABASE_URL emptied), one admin, N
endpoints on a receiver in another process (127.0.0.1, answers 200 at once). Two phases:

1. throughput: N events are committed while the runner is stopped, then the runner starts and the
   time until every delivery succeeded gives deliveries/s (dispatch + job + signed POST + log),
   with the load average, this process's CPU time per delivery, and the statements and committed
   transactions per delivery of the runner's threads;
2. latency: events are committed one by one at `--rate` per second with the runner running; for
   each, first attempt start minus commit time.

`--runner inline` runs phase 1 in this thread (dispatch, then due jobs, until nothing is left) and
reports statements and transactions per delivery: deterministic figures that do not move with the
machine's load (`--log-statements FILE` lists them, `--profile FILE` writes a cProfile).
`--runner celery` starts `--celery-workers` `carnet worker` processes (`--celery-concurrency` pool
processes each) on the Redis of CARNET_BENCH_REDIS_URL (default db 15 of 127.0.0.1), waits until they
answer, then sends one dispatch message and starts `carnet beat`: the clock runs from that message
until every delivery succeeded; in phase 2 this process publishes its commits to the workers as an
API process of the Celery mode does.

Per-endpoint rate limits are raised for the bench (the default 10/s would be the figure measured).
It prints the figures; it does not write bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RECEIVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *a): pass
ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer.request_queue_size = 128  # concurrent senders: a backlog of 5 resets connections
server = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def fresh_database(kind: str) -> str:
    if kind == "sqlite":
        folder = Path("var/bench")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "webhooks.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path.resolve()}"
    from sqlalchemy import create_engine, text

    url = os.environ.get(
        "CARNET_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/carnet_bench"
    )
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


def count_statements(engine: Any, *, inline: bool, log: Any = None) -> dict[str, int]:
    """Statements and committed transactions on `engine`, by the runner's threads only (inline: all),
    so the bench's own polling is not counted."""
    from sqlalchemy import event

    counts = {"statements": 0, "transactions": 0}
    main = threading.main_thread()

    def counted() -> bool:
        return inline or threading.current_thread() is not main

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if counted():
            counts["statements"] += 1
            if log is not None:
                log.write(" ".join(statement.split())[:200] + "\n")

    def on_commit(*_args: Any) -> None:
        if counted():
            counts["transactions"] += 1
            if log is not None:
                log.write("COMMIT\n")

    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "commit", on_commit)
    return counts


def celery_throughput(args: Any, expected: int, delivered: Any, counts: dict[str, int]) -> int:
    """Workers started and answering first, then one dispatch message and beat (sweeps, ticks):
    the clock runs from that message until every delivery succeeded. Statements are not counted
    (they run in the worker processes)."""
    from carnet.core import celery_app

    carnet = str(Path(sys.executable).parent / "carnet")
    env = {**os.environ, "CARNET_RUNNER": "celery"}
    logs = Path(tempfile.mkdtemp(prefix="carnet-bench-celery-"))
    workers = [
        subprocess.Popen(
            [carnet, "worker", f"--concurrency={args.celery_concurrency}", "--loglevel=WARNING"],
            env=env,
            stdout=(logs / f"worker-{n}.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for n in range(args.celery_workers)
    ]
    beat: subprocess.Popen[bytes] | None = None
    try:
        deadline = time.monotonic() + 120
        while len(celery_app.app.control.ping(timeout=1.0) or []) < args.celery_workers:
            if time.monotonic() > deadline:
                raise SystemExit(f"the Celery workers did not answer; logs in {logs}")
        started = time.perf_counter()
        celery_app.dispatch.delay()
        beat = subprocess.Popen(
            [carnet, "beat", "--loglevel=WARNING"],
            env=env,
            stdout=(logs / "beat.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        while delivered() < expected:
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        print(
            f"throughput: {expected} deliveries in {elapsed:.2f} s = {expected / elapsed:.0f} deliveries/s "
            f"with {args.celery_workers} Celery worker(s) x {args.celery_concurrency} process(es) "
            f"(load average {os.getloadavg()[0]:.2f})"
        )
        # 2. latency: this process publishes as an API process does (a dispatch message per commit)
        celery_app.install_publisher()
        latency(args, expected, delivered)
    finally:
        for process in [*workers, *([beat] if beat else [])]:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
    return 0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def latency(args: Any, expected: int, delivered: Any) -> None:
    """Phase 2, with the runner running (embedded threads, or Celery workers woken by this
    process's commits): events committed one at a time at `--rate`; for each delivery, its first
    attempt's start minus the commit time."""
    from sqlalchemy import select

    from carnet.accounts import service as accounts
    from carnet.contacts import service as contacts
    from carnet.core.db import get_database
    from carnet.core.events import Event
    from carnet.webhooks.models import WebhookAttempt, WebhookDelivery

    database = get_database()
    with database.session(write=False) as db:
        admin = accounts.actor_for(accounts.get_user_by_email(db, "bench@example.fr"))
    commits: dict[str, datetime] = {}
    for n in range(args.latency_events):
        with database.session() as db:  # one short write transaction per event
            contact = contacts.create_contact(
                db, admin, {"first_name": "Latency", "last_name": f"Contact {n}"}
            )
        committed = datetime.now(UTC)
        with database.session(write=False) as db:
            event_id = db.scalar(
                select(Event.event_id).where(Event.record_id == contact.id, Event.type == "contact.created")
            )
        commits[event_id] = committed
        time.sleep(1 / args.rate)
    total = expected + args.latency_events * args.endpoints
    deadline = time.monotonic() + 120
    while delivered() < total and time.monotonic() < deadline:
        time.sleep(0.05)
    with database.session(write=False) as db:
        rows = db.execute(
            select(WebhookDelivery.event_id, WebhookAttempt.started_at)
            .join(WebhookAttempt, WebhookAttempt.delivery_id == WebhookDelivery.id)
            .where(WebhookDelivery.event_id.in_(list(commits)), WebhookAttempt.number == 1)
        ).all()
    delays = [(started_at - commits[event_id]).total_seconds() * 1000 for event_id, started_at in rows]
    print(
        f"commit → first attempt ({len(delays)} deliveries at {args.rate:.0f} events/s): "
        f"p50 {statistics.median(delays):.0f} ms, p95 {percentile(delays, 0.95):.0f} ms, "
        f"max {max(delays):.0f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--events", type=int, default=2000, help="events of the throughput phase")
    parser.add_argument("--endpoints", type=int, default=1)
    parser.add_argument("--threads", type=int, default=4, help="embedded runner job threads")
    parser.add_argument("--latency-events", type=int, default=200)
    parser.add_argument("--rate", type=float, default=50.0, help="events per second in the latency phase")
    parser.add_argument(
        "--runner",
        choices=("embedded", "inline", "celery"),
        default="embedded",
        help="inline: dispatch and run jobs in this thread (deterministic counts, no figure); "
        "celery: `carnet worker` processes and `carnet beat` on Redis (CARNET_BENCH_REDIS_URL)",
    )
    parser.add_argument("--celery-workers", type=int, default=2, help="`carnet worker` processes")
    parser.add_argument("--celery-concurrency", type=int, default=1, help="pool processes per worker")
    parser.add_argument("--log-statements", metavar="FILE", help="write every counted statement to FILE")
    parser.add_argument(
        "--profile", metavar="FILE", help="inline: a cProfile of the delivery part (this thread)"
    )
    args = parser.parse_args()

    url = fresh_database(args.db)
    if args.runner == "celery":
        import redis

        redis_url = os.environ.get("CARNET_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
        redis.Redis.from_url(redis_url).flushdb()
        os.environ["CARNET_REDIS_URL"] = redis_url
    os.environ.update(
        CARNET_DATABASE_URL=url,
        CARNET_RUNNER="off",
        CARNET_WEBHOOK_ALLOW_PRIVATE_TARGETS="true",
        CARNET_LOG_LEVEL="WARNING",
    )
    from sqlalchemy import func, select

    import carnet.models  # noqa: F401 - every table, job and consumer
    from carnet.accounts import service as accounts
    from carnet.contacts import service as contacts
    from carnet.core import events, jobs, migrate, runner
    from carnet.core.context import SYSTEM
    from carnet.core.db import get_database
    from carnet.webhooks import service as webhooks
    from carnet.webhooks.models import WebhookDelivery

    migrate.upgrade(url, Path(tempfile.mkdtemp()))
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True)
    try:
        port = int(receiver.stdout.readline())  # type: ignore[union-attr]
        database = get_database()
        with database.session() as db:
            accounts.ensure_builtin_roles(db)
            user = accounts.create_user(
                db, SYSTEM, {"email": "bench@example.fr", "password": "bench-password-2026", "role": "admin"}
            )
            admin = accounts.actor_for(user)
            for n in range(args.endpoints):
                webhooks.create_endpoint(
                    db,
                    admin,
                    {
                        "url": f"http://127.0.0.1:{port}/hook/{n}",
                        "event_types": ["contact.created"],
                        "rate_limit_per_second": 1000,
                        "max_concurrency": 100,
                    },
                )

        def delivered() -> int:
            with database.session(write=False) as db:
                return (
                    db.scalar(
                        select(func.count())
                        .select_from(WebhookDelivery)
                        .where(WebhookDelivery.status == "succeeded")
                    )
                    or 0
                )

        # 1. throughput: a backlog of committed events, then the runner
        with database.session() as db:
            for n in range(args.events):
                contacts.create_contact(db, admin, {"first_name": "Bench", "last_name": f"Contact {n}"})
        expected = args.events * args.endpoints
        log = open(args.log_statements, "w") if args.log_statements else None  # noqa: SIM115
        counts = count_statements(database.write_engine, inline=args.runner == "inline", log=log)
        print(f"db={args.db} runner={args.runner} threads={args.threads} endpoints={args.endpoints}")
        cpu_started = time.process_time()
        started = time.perf_counter()
        if args.runner == "inline":
            profiler = cProfile.Profile() if args.profile else None
            if profiler is not None:
                profiler.enable()
            while events.dispatch_pending() + jobs.run_due(limit=100):
                pass  # no tick: periodic jobs would be counted too
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(args.profile)
            if delivered() != expected:
                with database.session(write=False) as db:
                    states = db.execute(
                        select(WebhookDelivery.status, WebhookDelivery.last_error, func.count()).group_by(
                            WebhookDelivery.status, WebhookDelivery.last_error
                        )
                    ).all()
                raise SystemExit(f"only {delivered()} of {expected} deliveries succeeded: {states}")
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
            print(
                f"inline: {expected} deliveries, {counts['statements'] / expected:.2f} statements and "
                f"{counts['transactions'] / expected:.2f} transactions per delivery "
                f"({elapsed / expected * 1000:.2f} ms wall and {cpu / expected * 1000:.2f} ms CPU per "
                f"delivery, load average {os.getloadavg()[0]:.2f})"
            )
            return 0
        if args.runner == "celery":
            return celery_throughput(args, expected, delivered, counts)
        embedded = runner.EmbeddedRunner(threads=args.threads)  # the default poll: commits wake it
        embedded.start()
        while delivered() < expected:
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        print(
            f"throughput: {expected} deliveries in {elapsed:.2f} s = {expected / elapsed:.0f} deliveries/s "
            f"(load average {os.getloadavg()[0]:.2f}; this process {cpu / expected * 1000:.2f} ms CPU per "
            f"delivery; {counts['statements'] / expected:.2f} statements and "
            f"{counts['transactions'] / expected:.2f} transactions per delivery)"
        )

        # 2. latency: one event at a time, with the runner running
        latency(args, expected, delivered)
        embedded.stop()
    finally:
        receiver.terminate()
        receiver.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
