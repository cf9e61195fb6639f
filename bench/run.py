"""Benchmark harness: measures Carnet over HTTP on 127.0.0.1 (see bench/README.md).

    python bench/run.py --size small|medium|large --db sqlite|postgresql [--clients 1,8] [--duration 10]
                        [--base-url URL --token T] [--keep]

Without --base-url it builds a throw-away installation (fresh database, migrations, demo data,
API tokens, `carnet serve` on a free port), runs every scenario, then stops the server. Results go
to bench/results/<timestamp>-<size>-<db>.json and, as markdown, to stdout and bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import report
import scenarios
from scenarios import HttpScenario, Skipped, Target, Workload
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "bench"
RESULTS_DIR = ROOT / "bench" / "results"
RESULTS_MD = ROOT / "bench" / "RESULTS.md"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/carnet_bench"
IMPORT_ROWS = {"small": 2_000, "medium": 20_000, "large": 100_000}
ADMIN_EMAIL = "admin@carnet.demo"
SALES_EMAIL = "sales@carnet.demo"  # a sales user: reads go through the department visibility filter


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalCarnet:
    """A throw-away Carnet: fresh database, demo data, tokens and `carnet serve` on a free port."""

    def __init__(self, size: str, db: str, workers: int, keep: bool, reuse: bool = False) -> None:
        self.size, self.db, self.workers, self.keep, self.reuse = size, db, workers, keep or reuse, reuse
        VAR.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.sqlite_path = VAR / f"bench-{size}.db"
        if db == "sqlite":
            self.database_url = f"sqlite:///{self.sqlite_path}"
        else:
            self.database_url = os.environ.get("CARNET_BENCH_DATABASE_URL", DEFAULT_PG_URL)
            if make_url(self.database_url).get_backend_name() != "postgresql":
                raise RuntimeError(f"CARNET_BENCH_DATABASE_URL is not a PostgreSQL URL: {self.database_url}")
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = VAR / f"server-{stamp}-{size}-{db}.log"
        # The same interpreter and import path as this script, so a worktree's PYTHONPATH applies.
        self.command = [sys.executable, "-m", "carnet.cli"]
        self.env = {
            **os.environ,
            "CARNET_DATABASE_URL": self.database_url,
            "CARNET_HOST": "127.0.0.1",
            "CARNET_PORT": str(self.port),
            "CARNET_BASE_URL": self.base_url,
            "CARNET_RATE_LIMIT_API": "0",
            "CARNET_RATE_LIMIT_SEARCH": "0",
            "CARNET_RATE_LIMIT_LOGIN": "0",
            "CARNET_LOG_LEVEL": "WARNING",
            "CARNET_BACKUP_DIR": str(VAR / "backups"),
            "CARNET_STORAGE_DIR": str(VAR / "files"),
        }
        self.setup: dict[str, Any] = {}
        self.server: subprocess.Popen[bytes] | None = None
        self.engine: Engine | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> LocalCarnet:
        try:
            reused = self.reuse and self._reusable()
            if not reused:
                self._reset_database()
            _out, self.setup["migrate_seconds"] = self.carnet("db", "upgrade")
            log(f"migrated {self.database_url} in {self.setup['migrate_seconds']:.1f} s")
            if reused:
                self.setup["reused_data"] = self._counts()
                log(f"reusing the data already there: {self.setup['reused_data']}")
            else:
                out, seconds = self.carnet("demo", "load", "--size", self.size)
                self.setup["demo_load_seconds"] = seconds
                first_line = out.strip().splitlines()[0] if out.strip() else ""
                self.setup["demo_load_summary"] = first_line.split(": ", 1)[-1]
                log(f"demo data loaded in {seconds:.1f} s: {self.setup['demo_load_summary']}")
            self.tokens = {
                "admin": self.carnet("token", "create", "--email", ADMIN_EMAIL, "--name", "bench")[0].strip(),
                "sales": self.carnet("token", "create", "--email", SALES_EMAIL, "--name", "bench")[0].strip(),
            }
            self.engine = create_engine(self.database_url)
            with self.engine.connect() as conn:
                sales = conn.execute(
                    text("SELECT id, department_id FROM users WHERE email = :email"), {"email": SALES_EMAIL}
                ).first()
            if sales is None:
                raise RuntimeError(f"the demo data has no {SALES_EMAIL}")
            self.sales_user_id, self.sales_department_id = sales.id, sales.department_id
            self._start_server()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._stop_server()
        if self.engine is not None:
            self.engine.dispose()
            self.engine = None
        if not self.keep:
            self._drop_data()

    def target(self) -> Target:
        return Target(
            base_url=self.base_url,
            tokens=self.tokens,
            size=self.size,
            sales_user_id=self.sales_user_id,
            sales_department_id=self.sales_department_id,
            database_url=self.database_url,
            server_log=self.log_path,
            carnet_command=self.command,
            carnet_env=self.env,
            work_dir=VAR,
        )

    # -- steps -----------------------------------------------------------------------------------

    def carnet(self, *args: str) -> tuple[str, float]:
        """Run `carnet ARGS` against the bench database; (stdout, seconds)."""
        started = time.perf_counter()
        done = subprocess.run([*self.command, *args], env=self.env, cwd=ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(
                f"`carnet {' '.join(args[:2])}` failed with exit code {done.returncode}: "
                f"{done.stderr.strip()[-1000:]}"
            )
        return done.stdout, seconds

    def _reusable(self) -> bool:
        """--reuse: the database already holds a demo load (its admin user exists)."""
        if self.db == "sqlite" and not self.sqlite_path.exists():
            return False
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                return bool(
                    conn.execute(text("SELECT 1 FROM users WHERE email = :e"), {"e": ADMIN_EMAIL}).scalar()
                )
        except Exception:  # no database or no schema yet: build it
            return False
        finally:
            engine.dispose()

    def _counts(self) -> str:
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                counts = {
                    table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                    for table in ("organisations", "contacts", "deals", "activities")
                }
        finally:
            engine.dispose()
        return ", ".join(f"{n:,} {table}".replace(",", " ") for table, n in counts.items())

    def _reset_database(self) -> None:
        if self.db == "sqlite":
            self._remove_sqlite_files()
            return
        url = make_url(self.database_url)
        name = url.database
        if not name:
            raise RuntimeError("CARNET_BENCH_DATABASE_URL names no database")
        server = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        try:
            with server.connect() as conn:
                exists = conn.execute(
                    text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
                ).scalar()
                if not exists:
                    conn.execute(text(f"CREATE DATABASE {conn.dialect.identifier_preparer.quote(name)}"))
                    log(f"created database {name}")
        finally:
            server.dispose()
        self._empty_schema()

    def _empty_schema(self) -> None:
        engine = create_engine(self.database_url)
        try:
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        finally:
            engine.dispose()

    def _remove_sqlite_files(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.sqlite_path}{suffix}").unlink(missing_ok=True)

    def _drop_data(self) -> None:
        if self.db == "sqlite":
            self._remove_sqlite_files()
        else:
            self._empty_schema()

    def _start_server(self) -> None:
        with self.log_path.open("wb") as server_log:
            # The child keeps its own copy of the descriptor.
            self.server = subprocess.Popen(
                [*self.command, "serve", "--port", str(self.port), "--workers", str(self.workers)],
                env=self.env,
                cwd=ROOT,
                stdout=server_log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        with httpx.Client(timeout=2.0, trust_env=False) as http:
            while time.monotonic() < deadline:
                if self.server.poll() is not None:
                    tail = self.log_path.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"carnet serve exited with {self.server.returncode}:\n{tail}")
                try:
                    if http.get(f"{self.base_url}/healthz").status_code == 200:
                        log(f"carnet serve ready at {self.base_url} (log: {self.log_path})")
                        return
                except httpx.HTTPError:
                    pass  # not listening yet
                time.sleep(0.1)
        raise RuntimeError(f"carnet serve did not answer /healthz within 60 s (log: {self.log_path})")

    def _stop_server(self) -> None:
        if self.server is None or self.server.poll() is not None:
            return
        self.server.terminate()
        try:
            self.server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait()


# -- measuring -----------------------------------------------------------------------------------


def selected(name: str, only: list[str]) -> bool:
    return not only or any(word in name for word in only)


def measure_http(
    kind: str,
    scenario: HttpScenario,
    target: Target,
    workload: Workload,
    client_counts: list[int],
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    if not selected(scenario.name, args.only):
        return []
    label = f"{scenario.name} [{scenario.persona}]"
    position = target.log_position()
    try:
        with target.client(scenario.persona) as http:
            scenario.prepare(target, http, workload)
    except Skipped as exc:
        cause = target.first_exception_since(position) if exc.http_status == 500 else None
        if cause:
            exc.reason += f" — server log: {cause}"
        log(f"{label}: {exc.status} ({exc.reason})")
        return [
            report.skipped_row(
                kind, scenario.name, scenario.persona, scenario.description, scenario.goal, exc
            )
        ]
    except httpx.HTTPError as exc:
        failed = scenarios.SetupFailed(f"{type(exc).__name__}: {exc}")
        return [
            report.skipped_row(
                kind, scenario.name, scenario.persona, scenario.description, scenario.goal, failed
            )
        ]
    rows = []
    for clients in client_counts:
        position = target.log_position()
        sample = scenarios.timed_loop(
            scenarios.http_operations(scenario, target, clients),
            args.duration,
            args.warmup,
            processes=True,
        )
        logged = target.locked_in_log_since(position)
        row = report.measured_row(
            kind,
            scenario.name,
            scenario.persona,
            clients,
            scenario.description,
            scenario.goal,
            sample,
            logged,
        )
        if sample.first_error and sample.first_error.startswith("HTTP 500"):
            row["server_exception"] = target.first_exception_since(position)
        log(progress(label, row))
        rows.append(row)
    return rows


def progress(label: str, row: dict[str, Any]) -> str:
    if not row.get("ops"):
        return f"{label} ×{row['clients']}: no operation completed ({row.get('first_error')})"
    return (
        f"{label} ×{row['clients']}: p50 {row['p50_ms']} ms, p95 {row['p95_ms']} ms, "
        f"{row['req_per_s']} req/s, {row['errors']} errors, goal {row['vs_goal']}"
    )


def measure_sql(target: Target, workload: Workload, args: argparse.Namespace) -> list[dict[str, Any]]:
    if target.database_url is None:
        log("direct SQL: skipped (no database URL; pass --database-url with --base-url)")
        return []
    rows = []
    engine = create_engine(target.database_url)
    try:
        for scenario in scenarios.sql_scenarios():
            if not selected(scenario.name, args.only):
                continue
            label = f"SQL {scenario.name} [{scenario.persona}]"
            try:
                scenarios.prepare_sql(scenario, engine, target, workload)
            except Skipped as exc:
                log(f"{label}: {exc.status} ({exc.reason})")
                rows.append(
                    report.skipped_row(
                        "sql", scenario.name, scenario.persona, scenario.description, None, exc
                    )
                )
                continue
            with engine.connect() as conn:
                operation = scenarios.sql_operation(scenario, conn)
                sample = scenarios.timed_loop([operation], args.duration, args.warmup)
            row = report.measured_row(
                "sql", scenario.name, scenario.persona, 1, scenario.description, None, sample
            )
            log(progress(label, row))
            rows.append(row)
    finally:
        engine.dispose()
    return rows


def measure_all(target: Target, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Reads first, on the freshly loaded data, then SQL, then writes, then imports."""
    workload = scenarios.discover(target, max([*args.clients, args.write_clients]))
    rows: list[dict[str, Any]] = []
    for scenario in scenarios.read_scenarios():
        rows += measure_http("http", scenario, target, workload, args.clients, args)
    rows += measure_sql(target, workload, args)
    for scenario in scenarios.write_scenarios():
        rows += measure_http("http", scenario, target, workload, args.clients, args)
    concurrency = scenarios.WriteConcurrency(sqlite=args.db == "sqlite")
    rows += measure_http("write", concurrency, target, workload, [args.write_clients], args)
    if selected("import", args.only):
        rows_to_import = args.import_rows or IMPORT_ROWS[args.size]
        for run_import in (scenarios.run_api_import, scenarios.run_cli_import):
            result = run_import(target, rows_to_import, workload.tag)
            row = report.import_row(result)
            log(f"{row['scenario']}: {row['status']} {row['rows_per_s'] or ''} rows/s {row['note']}")
            rows.append(row)
    return rows


def database_version(url: str | None) -> str | None:
    if url is None:
        return None
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                return "SQLite " + str(conn.execute(text("SELECT sqlite_version()")).scalar())
            return "PostgreSQL " + str(conn.execute(text("SHOW server_version")).scalar())
    finally:
        engine.dispose()


def external_target(args: argparse.Namespace) -> Target:
    tokens = {"admin": args.token}
    if args.sales_token:
        tokens["sales"] = args.sales_token
    return Target(
        base_url=args.base_url,
        tokens=tokens,
        size=args.size,
        sales_user_id=args.sales_user_id,
        sales_department_id=args.sales_department_id,
        database_url=args.database_url,
    )


# -- command line --------------------------------------------------------------------------------


def client_counts(value: str) -> list[int]:
    try:
        counts = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("expected numbers separated by commas, e.g. 1,8")
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("expected numbers ≥ 1")
    return counts


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Measure Carnet over HTTP on 127.0.0.1.")
    parser.add_argument("--size", choices=sorted(IMPORT_ROWS), default="small", help="demo data size")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--clients", type=client_counts, default=[1, 8], help="concurrent clients, e.g. 1,8")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per scenario")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds before each measurement")
    parser.add_argument(
        "--write-clients", type=int, default=8, help="clients of the write-concurrency scenario"
    )
    parser.add_argument("--import-rows", type=int, default=None, help="rows per import (default by size)")
    parser.add_argument("--workers", type=int, default=1, help="`carnet serve --workers` (orchestrated runs)")
    parser.add_argument("--keep", action="store_true", help="keep the bench database after the run")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure the demo data a kept database already holds instead of loading it again (implies --keep)",
    )
    parser.add_argument(
        "--only",
        type=lambda v: [w.strip() for w in v.split(",") if w.strip()],
        default=[],
        help="run only scenarios whose name contains one of these words",
    )
    parser.add_argument("--no-append", action="store_true", help="do not append to bench/RESULTS.md")
    external = parser.add_argument_group("an already running server")
    external.add_argument("--base-url", help="e.g. http://127.0.0.1:8000; skips the orchestration")
    external.add_argument("--token", help="admin API token (required with --base-url)")
    external.add_argument(
        "--sales-token", help="API token of a sales user, for the visibility-filtered scenarios"
    )
    external.add_argument("--sales-user-id", type=int, help="that sales user's id (direct SQL)")
    external.add_argument("--sales-department-id", type=int, help="that sales user's department id")
    external.add_argument("--database-url", help="the server's database, for the direct SQL comparison")
    args = parser.parse_args(argv)
    if args.base_url and not args.token:
        parser.error("--base-url needs --token")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = datetime.now(UTC)
    setup: dict[str, Any] = {}
    try:
        with ExitStack() as stack:
            if args.base_url:
                target, workers = external_target(args), None
            else:
                local = stack.enter_context(
                    LocalCarnet(args.size, args.db, args.workers, args.keep, args.reuse)
                )
                target, workers, setup = local.target(), args.workers, local.setup
            meta = {
                "date": started.strftime("%Y-%m-%d %H:%M UTC"),
                "size": args.size,
                "database": args.db,
                "database_version": database_version(target.database_url),
                "commit": report.git_commit(ROOT),
                "machine": report.machine(),
                "base_url": target.base_url,
                "server_workers": workers,
                "clients": args.clients,
                "write_clients": args.write_clients,
                "duration": args.duration,
                "warmup": args.warmup,
                "load_before": report.load_average(),
            }
            results = measure_all(target, args)
            meta["load_after"] = report.load_average()
    except RuntimeError as exc:
        log(f"error: {exc}")
        return 1
    except Skipped as exc:  # not even the organisation list answers: nothing to measure
        log(f"error: {exc.reason}")
        return 1
    data = {"meta": meta, "setup": setup, "results": results}
    json_path = RESULTS_DIR / f"{started.strftime('%Y%m%dT%H%M%SZ')}-{args.size}-{args.db}.json"
    report.write_json(json_path, data)
    markdown = report.render(data)
    print(markdown)
    if not args.no_append:
        report.append_markdown(RESULTS_MD, markdown)
    log(f"results: {json_path}" + ("" if args.no_append else f" and {RESULTS_MD}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
