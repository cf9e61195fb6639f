"""CPU cost of a contacts import, measured in-process (see bench/README.md, "Import profile").

    CARNET_DATABASE_URL=... python bench/profile_import.py [--rows 20000] [--runs 3] [--profile]

Uploads the bench scenario's CSV (bench/scenarios.py `import_csv`) as admin@carnet.demo through
the imports service, maps it as the API scenario does, then times `run_import` itself: wall
clock, this process's CPU (`time.process_time`) and the statements sent. The database must be
migrated and hold the demo data (`carnet db upgrade`, `carnet demo load`); every run adds contacts.
With --profile, the last run is under cProfile and its top functions are printed; with --sample,
under the statistical profiler of bench/profile_api.py (CPU time only, undistorted).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from profile_api import Sampler
from scenarios import IMPORT_MAPPING, import_csv
from sqlalchemy import event

# Seconds the garbage collector ran, per generation, over all runs.
GC_TIME = [0.0, 0.0, 0.0]
_gc_started: list[float] = []


def _time_gc(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _gc_started.append(time.perf_counter())
    elif _gc_started:
        GC_TIME[info["generation"]] += time.perf_counter() - _gc_started.pop()


# Wall-clock seconds spent in each kind of statement (its first words), over all runs.
STATEMENT_TIME: dict[str, float] = {}


def _server_cpu(database: object) -> float:
    """CPU seconds the PostgreSQL backends serving this database used so far (the server runs on
    this machine: /proc), 0 on SQLite, where the engine's work is this process's CPU."""
    from sqlalchemy import text

    if database.dialect != "postgresql":  # type: ignore[attr-defined]
        return 0.0
    with database.write_engine.connect() as conn:  # type: ignore[attr-defined]
        pids = conn.scalars(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")).all()
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def _one_run(
    rows: int, tag: str, profiler: cProfile.Profile | None, sampler: Sampler | None = None
) -> dict[str, float]:
    from carnet.accounts import service as accounts
    from carnet.core.db import get_database
    from carnet.imports import service as imports

    database = get_database()
    with database.session() as session:
        user = accounts.get_user_by_email(session, "admin@carnet.demo")
        assert user is not None, "load the demo data first"
        actor = accounts.actor_for(user)
        job = imports.create_job(session, actor, "contacts", "bench.csv", io.BytesIO(import_csv(rows, tag)))
        job = imports.set_mapping(session, actor, job, IMPORT_MAPPING, "create")
        imports.start_import(session, actor, job)
        job_id = job.id
    statements = 0
    started_at: list[float] = []

    def before(*_args: object) -> None:
        nonlocal statements
        statements += 1
        started_at.append(time.perf_counter())

    def after(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        key = " ".join(statement.split())[:70]
        STATEMENT_TIME[key] = STATEMENT_TIME.get(key, 0.0) + time.perf_counter() - started_at.pop()

    event.listen(database.write_engine, "before_cursor_execute", before)
    event.listen(database.write_engine, "after_cursor_execute", after)
    server = _server_cpu(database)
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        if profiler is not None:
            profiler.runcall(imports.run_import, job_id, actor)
        elif sampler is not None:
            with sampler:
                imports.run_import(job_id, actor)
        else:
            imports.run_import(job_id, actor)
    finally:
        event.remove(database.write_engine, "before_cursor_execute", before)
        event.remove(database.write_engine, "after_cursor_execute", after)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    server = _server_cpu(database) - server
    with database.session(write=False) as session:
        job = imports.get_job(session, actor, job_id)
        assert job.status == "done", job.status
        created, failed = job.created, job.failed
    return {
        "wall": wall,
        "cpu": cpu,
        "server": server,
        "statements": statements,
        "created": created,
        "failed": failed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--sample", action="store_true", help="statistical profile of the last run")
    parser.add_argument("--statements", action="store_true", help="time spent per kind of statement")
    parser.add_argument("--chunk-size", type=int, help="rows per transaction (imports.service.CHUNK_SIZE)")
    parser.add_argument("--no-freeze", action="store_true", help="no gc.freeze() (code before it)")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    import carnet.models  # noqa: F401  every domain's job functions and event consumers

    if args.chunk_size:
        from carnet.imports import service as imports

        imports.CHUNK_SIZE = args.chunk_size
    if not args.no_freeze:
        gc.freeze()  # as carnet.asgi and `carnet import` do once the application is loaded
    gc.callbacks.append(_time_gc)
    stamp = time.strftime("%H%M%S")
    results = []
    profiler = None
    for run in range(args.runs):
        last = run == args.runs - 1
        profiler = cProfile.Profile() if args.profile and last else None
        sampler = Sampler() if args.sample and last else None
        result = _one_run(args.rows, f"prof{stamp}r{run}", profiler, sampler)
        results.append(result)
        print(
            f"run {run + 1}: {result['wall']:.2f} s wall ({args.rows / result['wall']:.0f} rows/s), "
            f"{result['cpu']:.2f} s CPU ({args.rows / result['cpu']:.0f} rows/s), "
            f"{result['server']:.2f} s database server CPU, "
            f"{result['statements']:.0f} statements, created {result['created']:.0f}, "
            f"failed {result['failed']:.0f}" + (" [cProfile]" if profiler else ""),
            flush=True,
        )
    plain = [r for r in results if r is not results[-1] or not (args.profile or args.sample)] or results
    wall = statistics.median(r["wall"] for r in plain)
    cpu = statistics.median(r["cpu"] for r in plain)
    server = statistics.median(r["server"] for r in plain)
    print(
        f"median of {len(plain)}: {args.rows / wall:.0f} rows/s wall, {args.rows / cpu:.0f} rows/s CPU, "
        f"{args.rows / (cpu + server):.0f} rows/s CPU with the database server's"
    )
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    print(f"load average: {' '.join(load)}")
    print(
        f"garbage collector over {args.runs} runs (s, generations 0/1/2): "
        + " / ".join(f"{t:.2f}" for t in GC_TIME)
    )
    if args.statements:
        print(f"statement time over {args.runs} runs (s):")
        for key, seconds in sorted(STATEMENT_TIME.items(), key=lambda kv: -kv[1])[:15]:
            print(f"  {seconds:7.2f}  {key}")
    if sampler is not None:
        sampler.report(args.top)
    if profiler is not None:
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
