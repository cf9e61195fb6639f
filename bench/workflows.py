"""Simple workflow runs per second with the embedded runner's loop (dispatch events, run due jobs).

A fresh database gets one active workflow — "deal created → update a field" (one condition, one
action through the deals service) — then N deals are created through the service; the clock starts
when the first event is dispatched and stops when no job is left due. Prints the figures; does not
touch RESULTS.md.

With `--no-match` the enabled workflow triggers on another record type, so the figure is events
dispatched per second when no workflow matches (the workflows consumer's cost on unrelated events).
`--profile FILE` writes a cProfile of the timed part; queries are counted on every run.

`--runner` picks who runs the work once the deals exist: `loop` (default: this thread alternates
dispatch and due jobs, as one runner thread would), `embedded` (the embedded runner with `--threads`
job threads, clock stopped when every run completed) or `celery` (`--celery-workers` `carnet worker`
processes started and answering first, then `carnet beat`, on the Redis of CARNET_BENCH_REDIS_URL,
default db 15 of 127.0.0.1; queries are not counted there, they run in the workers).

    PYTHONPATH=$PWD/src python bench/workflows.py --db sqlite --deals 500
    PYTHONPATH=$PWD/src python bench/workflows.py --db postgresql --deals 2000
    PYTHONPATH=$PWD/src python bench/workflows.py --db postgresql --deals 2000 --runner embedded
    PYTHONPATH=$PWD/src python bench/workflows.py --db postgresql --deals 2000 --runner celery
    PYTHONPATH=$PWD/src python bench/workflows.py --db postgresql --deals 5000 --no-match
"""

from __future__ import annotations

import argparse
import cProfile
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/carnet_bench_workflows"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--deals", type=int, default=500)
    parser.add_argument("--database-url", default=os.environ.get("CARNET_BENCH_DATABASE_URL", PG_URL))
    parser.add_argument("--no-match", action="store_true", help="events/s when no workflow matches")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the timed part to FILE")
    parser.add_argument("--log-queries", metavar="FILE", help="write every statement of the timed part")
    parser.add_argument(
        "--runner",
        choices=("loop", "embedded", "serve", "celery"),
        default="loop",
        help="loop: dispatch and run jobs in this thread (the embedded runner's loop, one thread); "
        "embedded: the embedded runner with --threads job threads; serve: `carnet serve --workers N` "
        "(--serve-workers), each worker process with its embedded runner (PostgreSQL only); celery: "
        "`carnet worker` processes (--celery-workers) and `carnet beat` on Redis (CARNET_BENCH_REDIS_URL)",
    )
    parser.add_argument("--threads", type=int, default=4, help="embedded runner job threads")
    parser.add_argument("--celery-workers", type=int, default=2)
    parser.add_argument("--serve-workers", type=int, default=2, help="`carnet serve --workers` processes")
    args = parser.parse_args()
    if args.runner == "serve" and args.db != "postgresql":
        parser.error("--runner serve needs --db postgresql (several processes write at once)")
    tmp = Path(tempfile.mkdtemp(prefix="carnet-bench-wf-"))
    url = f"sqlite:///{tmp}/bench.db" if args.db == "sqlite" else args.database_url
    os.environ["CARNET_DATABASE_URL"] = url
    os.environ.setdefault("CARNET_LOG_LEVEL", "WARNING")
    if args.runner == "celery":
        import redis

        os.environ["CARNET_REDIS_URL"] = os.environ.get("CARNET_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
        redis.Redis.from_url(os.environ["CARNET_REDIS_URL"]).flushdb()

    from sqlalchemy import create_engine, func, select, text
    from sqlalchemy import event as sa_event

    if url.startswith("postgresql"):
        admin = create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            name = url.rsplit("/", 1)[1]
            if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()

    import carnet.models  # noqa: F401  (tables, jobs, consumers)
    from carnet.accounts import service as accounts
    from carnet.accounts.models import Department
    from carnet.core import events, jobs, migrate
    from carnet.core.context import SYSTEM
    from carnet.core.db import get_database
    from carnet.deals import pipelines
    from carnet.deals import service as deals
    from carnet.workflows import service as workflows
    from carnet.workflows.models import WorkflowRun

    migrate.upgrade(url, tmp / "backups")
    database = get_database()
    with database.session() as db:
        accounts.ensure_builtin_roles(db)
        dept = Department(name="Ventes", code="ventes")
        db.add(dept)
        db.flush()
        pipelines.ensure_default_pipelines(db)
        db.commit()
        user = accounts.create_user(
            db,
            SYSTEM,
            {
                "email": "bench@example.fr",
                "password": "correct horse battery staple",
                "role": "sales",
                "department_id": dept.id,
                "first_name": "B",
                "last_name": "B",
            },
        )
        actor = accounts.actor_for(user)
        workflow = workflows.create_workflow(
            db,
            SYSTEM,
            {
                "name": "Bench",
                "definition": {
                    "trigger": {
                        "type": "record.created",
                        "record_type": "organisation" if args.no_match else "deal",
                        "params": {},
                    },
                    "start": "c",
                    "steps": {
                        "c": {
                            "type": "condition",
                            "if": {"all": [{"field": "created_at", "op": "is_not_empty"}]}
                            if args.no_match
                            else {"all": [{"field": "amount", "op": "gt", "value": "10"}]},
                            "then": "u",
                            "else": None,
                        },
                        "u": {
                            "type": "action",
                            "action": "update_fields",
                            "params": {"fields": {"description": "workflow {{ organisation.id }}"}}
                            if args.no_match
                            else {"fields": {"source": "workflow {{ deal.id }}"}},
                            "next": None,
                        },
                    },
                },
            },
        )
        workflows.enable(db, SYSTEM, workflow)
        pipeline = pipelines.default_pipeline(db, actor)
        assert pipeline is not None
        started = time.perf_counter()
        for i in range(args.deals):
            deals.create_deal(db, actor, {"title": f"Deal {i}", "amount": "100", "pipeline_id": pipeline.id})
        created = time.perf_counter() - started

    queries = 0
    query_log = open(args.log_queries, "w") if args.log_queries else None  # noqa: SIM115

    main_thread = threading.main_thread()

    def count_query(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        nonlocal queries
        if args.runner != "loop" and threading.current_thread() is main_thread:
            return  # the bench's own polling
        queries += 1
        if query_log is not None:
            query_log.write(" ".join(statement.split())[:160] + "\n")

    sa_event.listen(database.write_engine, "before_cursor_execute", count_query)
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        profiler.enable()
    started = time.perf_counter()
    dispatched = 0
    if args.runner == "loop":
        while True:
            events_done = events.dispatch_pending()
            dispatched += events_done
            done = events_done + jobs.run_due(limit=200)
            if not done:
                break
        elapsed = time.perf_counter() - started
    else:
        with database.session() as db:
            total_events = db.scalar(select(func.count()).select_from(events.Event)) or 0

        def finished() -> bool:
            with database.session(write=False) as db:
                if args.no_match:
                    return (
                        db.scalar(
                            select(func.count())
                            .select_from(events.Event)
                            .where(events.Event.dispatched_at.is_(None))
                        )
                        == 0
                    )
                done_runs = select(func.count()).select_from(WorkflowRun)
                return db.scalar(done_runs.where(WorkflowRun.status == "completed")) == args.deals

        stop = start_runner(args)
        try:
            started = time.perf_counter()
            if args.runner == "celery":
                from carnet.core import celery_app

                celery_app.dispatch.delay()
            while not finished():
                time.sleep(0.02)
        finally:
            elapsed = time.perf_counter() - started
            stop()
        dispatched = total_events
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    sa_event.remove(database.write_engine, "before_cursor_execute", count_query)
    if query_log is not None:
        query_log.close()
    with database.session() as db:
        completed = (
            db.scalar(select(func.count()).select_from(WorkflowRun).where(WorkflowRun.status == "completed"))
            or 0
        )
    where = f"runner {args.runner}" + (
        f" ({args.threads} threads)"
        if args.runner == "embedded"
        else f" ({args.serve_workers} processes of {args.threads} job threads)"
        if args.runner == "serve"
        else f" ({args.celery_workers} workers)"
        if args.runner == "celery"
        else ""
    )
    print(
        f"database: {args.db}; {where}; load average {os.getloadavg()[0]:.2f}; deals created in {created:.1f}s"
    )
    if args.no_match:
        print(
            f"events dispatched with no matching workflow: {dispatched} in {elapsed:.2f}s "
            f"→ {dispatched / elapsed:.0f} events/s; {queries / max(dispatched, 1):.2f} queries per event "
            f"(runs started: {completed})"
        )
        return
    print(
        f"workflow runs completed: {completed}/{args.deals} in {elapsed:.2f}s "
        f"→ {completed / elapsed:.0f} runs/s (2 steps each: condition + update through the deals service); "
        + (
            "queries run in the worker processes (not counted)"
            if args.runner in ("celery", "serve")
            else f"{queries / max(completed, 1):.1f} queries per run (events dispatch and jobs included)"
        )
    )


def start_runner(args: argparse.Namespace) -> Callable[[], None]:
    """The runner under test, started and ready; returns how to stop it."""
    if args.runner == "embedded":
        from carnet.core import runner

        embedded = runner.EmbeddedRunner(threads=args.threads)  # the default poll: commits wake it
        embedded.start()
        return embedded.stop
    if args.runner == "serve":
        return start_serve(args)
    from carnet.core import celery_app

    carnet = str(Path(sys.executable).parent / "carnet")
    env = {**os.environ, "CARNET_RUNNER": "celery"}
    logs = Path(tempfile.mkdtemp(prefix="carnet-bench-wf-celery-"))
    processes = [
        subprocess.Popen(
            [carnet, "worker", "--concurrency=1", "--loglevel=WARNING"],
            env=env,
            stdout=(logs / f"worker-{n}.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for n in range(args.celery_workers)
    ]
    deadline = time.monotonic() + 120
    while len(celery_app.app.control.ping(timeout=1.0) or []) < args.celery_workers:
        if time.monotonic() > deadline:
            raise SystemExit(f"the Celery workers did not answer; logs in {logs}")
    processes.append(
        subprocess.Popen(
            [carnet, "beat", "--loglevel=WARNING"],
            env=env,
            stdout=(logs / "beat.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    )

    return lambda: stop_all(processes)


def stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each process group, SIGKILL the ones still running 20 s later."""
    for process in processes:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def start_serve(args: argparse.Namespace) -> Callable[[], None]:
    """`carnet serve --workers N` with the default embedded runner in each worker process. Until the
    server answers, this process holds the dispatcher's advisory lock, so no event is dispatched
    before the clock starts (the servers' dispatchers find it taken and wait for their next poll)."""
    import socket
    import urllib.request

    from sqlalchemy import create_engine, text

    from carnet.core import events

    holder = create_engine(os.environ["CARNET_DATABASE_URL"]).connect()
    holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": events.DISPATCH_LOCK})
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    logs = Path(tempfile.mkdtemp(prefix="carnet-bench-wf-serve-"))
    env = {
        **os.environ,
        "CARNET_RUNNER": "embedded",
        "CARNET_RUNNER_THREADS": str(args.threads),
        "CARNET_PORT": str(port),
    }
    env.pop("CARNET_REDIS_URL", None)
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "carnet"), "serve", "--workers", str(args.serve_workers)],
        env=env,
        stdout=(logs / "serve.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit(f"`carnet serve` did not answer; log in {logs}")
        time.sleep(0.2)
    time.sleep(1.0)  # every worker process is up (healthz answered from one of them)
    holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": events.DISPATCH_LOCK})
    holder.close()

    return lambda: stop_all([process])


if __name__ == "__main__":
    main()
