"""CPU cost of one API request, measured in-process (see bench/README.md, "CPU per request").

    python bench/profile_api.py --database-url URL --token T [--requests 500] [--profile | --live]
        [--path /api/v1/contacts?sort=last_name&limit=50] [--method GET] [--json BODY]

In-process (default): the application runs in this process, driven by httpx's ASGI transport;
every thread-pool hop runs inline, so one thread does all the work and `time.process_time()` (and
cProfile, with --profile) see all of it.

--live: starts `carnet serve` on a free port and sends the requests over HTTP from one client;
the figure is the server process's CPU time (all its threads, from /proc) per request, so the
thread-pool hops and uvicorn's own work count too.

Either figure is CPU milliseconds per request after a warm-up: unlike wall-clock latency it does
not move with other work on a shared machine. The database server's own CPU is not included.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import signal
import sys
import time
from pathlib import Path
from typing import Any


def _run_thread_pool_inline() -> None:
    """Starlette and FastAPI hop to worker threads through anyio.to_thread.run_sync: run inline."""
    import anyio.to_thread

    async def run_sync(func: Any, *args: Any, **_kwargs: Any) -> Any:
        return func(*args)

    anyio.to_thread.run_sync = run_sync  # type: ignore[assignment]


class Requests:
    """The n-th request: `{n}` in the path or the body becomes a number never used before (unique
    names for POST), and a body that is a JSON list is cycled through (a deal moved back and
    forth between two stages)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.method, self.path, self.body = args.method, args.path, args.json
        self.bodies = json.loads(args.json) if args.json and args.json.lstrip().startswith("[") else None
        self.prefix = f"{int(time.time() * 1000) % 10**9}"
        self.sent = 0

    def next(self) -> tuple[str, Any]:
        n = f"{self.prefix}-{self.sent}"
        self.sent += 1
        path = self.path.replace("{n}", n)
        if self.bodies is not None:
            return path, self.bodies[self.sent % len(self.bodies)]
        if self.body is None:
            return path, None
        return path, json.loads(self.body.replace("{n}", n))


async def _drive(app: Any, args: argparse.Namespace, requests: Requests, count: int) -> int:
    import httpx

    headers = {"Authorization": f"Bearer {args.token}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        for _ in range(count):
            path, body = requests.next()
            response = await client.request(args.method, path, headers=headers, json=body)
            if response.status_code >= 400:
                raise SystemExit(f"{args.method} {path} answered {response.status_code}: {response.text}")
    return count


class StatementCounter:
    """Statements sent to the database (every engine of the process), to report them per request."""

    def __init__(self) -> None:
        self.count = 0
        self.samples: dict[str, int] = {}

    def __enter__(self) -> StatementCounter:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        event.listen(Engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_exc: object) -> None:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        event.remove(Engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.count += 1
        key = " ".join(statement.split())[:160]
        self.samples[key] = self.samples.get(key, 0) + 1


class Sampler:
    """A small statistical profiler: SIGPROF fires every `interval` seconds of the process's CPU
    time and the handler records the main thread's stack. Unlike cProfile it does not slow small
    functions down more than big ones, and time spent waiting for the database is not counted.
    Prints, per function, the share of samples where it is on the stack (inclusive) and where it
    is the innermost frame (own)."""

    def __init__(self, interval: float = 0.001) -> None:
        from collections import Counter

        self.interval = interval
        self.inclusive: Counter[str] = Counter()
        self.own: Counter[str] = Counter()
        self.samples = 0

    def _sample(self, _signum: int, frame: Any) -> None:
        seen: set[str] = set()
        innermost = True
        while frame is not None:
            code = frame.f_code
            name = f"{code.co_filename.split('site-packages/')[-1]}:{code.co_firstlineno}({code.co_name})"
            if innermost:
                self.own[name] += 1
                innermost = False
            if name not in seen:
                self.inclusive[name] += 1
                seen.add(name)
            frame = frame.f_back
        self.samples += 1

    def __enter__(self) -> Sampler:
        signal.signal(signal.SIGPROF, self._sample)
        signal.setitimer(signal.ITIMER_PROF, self.interval, self.interval)
        return self

    def __exit__(self, *_exc: object) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        signal.signal(signal.SIGPROF, signal.SIG_DFL)

    def report(self, top: int) -> None:
        print(f"{self.samples} samples, one per {self.interval * 1000:g} ms of CPU")
        for title, counter in (("inclusive", self.inclusive), ("own", self.own)):
            print(f"-- {title}")
            for name, count in counter.most_common(top):
                print(f"{count / max(1, self.samples) * 100:6.1f}%  {name}")


def _process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _live(args: argparse.Namespace) -> None:
    import socket
    import subprocess

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "CARNET_HOST": "127.0.0.1", "CARNET_PORT": str(port)}
    server = subprocess.Popen([sys.executable, "-m", "carnet.cli", "serve"], env=env)
    try:
        headers = {"Authorization": f"Bearer {args.token}"}
        requests = Requests(args)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30) as client:
            for _ in range(1200):  # up to 2 minutes on a busy machine
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            for _ in range(args.warmup):
                path, body = requests.next()
                client.request(args.method, path, json=body).raise_for_status()
            started_cpu, started_wall = _process_cpu_seconds(server.pid), time.perf_counter()
            for _ in range(args.requests):
                path, body = requests.next()
                client.request(args.method, path, json=body).raise_for_status()
            cpu = _process_cpu_seconds(server.pid) - started_cpu
            wall = time.perf_counter() - started_wall
    finally:
        server.terminate()
        server.wait(10)
    print(
        f"live {args.method} {args.path}: {args.requests} requests, "
        f"{cpu / args.requests * 1000:.2f} ms server CPU and {wall / args.requests * 1000:.2f} ms wall per request",
        file=sys.stderr,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--path", default="/api/v1/contacts?sort=last_name&limit=50")
    parser.add_argument("--method", default="GET")
    parser.add_argument(
        "--json", help="request body (JSON); `{n}` becomes a fresh number, a JSON list is cycled through"
    )
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--profile", action="store_true", help="print the top functions (cProfile)")
    parser.add_argument("--sample", action="store_true", help="print the top functions (sampling)")
    parser.add_argument("--live", action="store_true", help="measure a `carnet serve` process over HTTP")
    parser.add_argument("--sort", default="cumulative", help="cProfile sort key")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument(
        "--statements", action="store_true", help="count the SQL statements per request and list them"
    )
    args = parser.parse_args()

    os.environ["CARNET_DATABASE_URL"] = args.database_url
    os.environ.setdefault("CARNET_LOG_LEVEL", "WARNING")
    for name in ("API", "SEARCH", "LOGIN"):
        os.environ.setdefault(f"CARNET_RATE_LIMIT_{name}", "0")
    if args.live:
        _live(args)
        return
    _run_thread_pool_inline()
    from carnet.app import create_app

    app = create_app()
    requests = Requests(args)
    asyncio.run(_drive(app, args, requests, args.warmup))
    if args.statements:
        with StatementCounter() as counter:
            asyncio.run(_drive(app, args, requests, 20))
        print(f"{counter.count / 20:g} statements per request:", file=sys.stderr)
        for statement, seen in sorted(counter.samples.items(), key=lambda item: -item[1]):
            print(f"  {seen / 20:g} x {statement}", file=sys.stderr)
    # CPU time, not wall time: waiting for the database is not the cost looked for here
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    started_cpu, started_wall = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    if args.sample:
        with Sampler() as sampler:
            asyncio.run(_drive(app, args, requests, args.requests))
    else:
        asyncio.run(_drive(app, args, requests, args.requests))
    if profiler:
        profiler.disable()
    cpu = time.process_time() - started_cpu
    wall = time.perf_counter() - started_wall
    print(
        f"{args.method} {args.path}: {args.requests} requests, "
        f"{cpu / args.requests * 1000:.2f} ms CPU and {wall / args.requests * 1000:.2f} ms wall per request"
        + (" (under cProfile)" if profiler else ""),
        file=sys.stderr,
    )
    if profiler:
        pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.top)
        if os.environ.get("PROFILE_DUMP"):
            profiler.dump_stats(os.environ["PROFILE_DUMP"])
    if args.sample:
        sampler.report(args.top)


if __name__ == "__main__":
    main()
