"""Fault test of the distributed runner, against real Redis and Celery: workers are killed with
SIGKILL again and again during a burst of 2,000 events with 3 webhook endpoints, and still every
event reaches every endpoint at least once, duplicates carrying the same `webhook-id`.

Runs when the suite runs on PostgreSQL with Redis (CI sets both); skipped otherwise.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from core.conftest import scratch  # noqa: F401 - the scratch database fixture (tests/core)

REDIS_URL = os.environ.get("CARNET_TEST_REDIS_URL", "")
EVENTS = int(os.environ.get("FAULT_EVENTS", "2000"))
ENDPOINTS = 3
MAX_KILLS = 8
KILL_EVERY = 2.0  # seconds
pytestmark = pytest.mark.skipif(
    not (REDIS_URL and os.environ.get("CARNET_TEST_DATABASE_URL", "").startswith("postgresql")),
    reason="needs PostgreSQL and Redis (CARNET_TEST_DATABASE_URL, CARNET_TEST_REDIS_URL)",
)


class Receiver:
    """A local webhook receiver: records (endpoint, webhook-id, event id of the body)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
                with receiver.lock:
                    receiver.seen.append((self.path, self.headers["webhook-id"], str(body["data"]["id"])))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _redis_db_for_this_test() -> str:
    """A Redis database of its own (db 15 of the test server), emptied first."""
    import redis

    url = REDIS_URL.rsplit("/", 1)[0] + "/15"
    redis.Redis.from_url(url).flushdb()
    return url


def _start(env: dict[str, str], *args: str, log: Path) -> subprocess.Popen[bytes]:
    carnet = str(Path(sys.executable).parent / "carnet")
    handle = log.open("ab")
    return subprocess.Popen(
        [carnet, *args], env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )


def _kill(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)  # the worker and its pool processes, no goodbye
    except ProcessLookupError:
        pass
    process.wait(10)


def test_killed_workers_lose_no_webhook(scratch: Any, tmp_path: Path) -> None:  # noqa: F811
    assert scratch.carnet("db", "upgrade").exit_code == 0
    from carnet.accounts import service as accounts
    from carnet.contacts import service as contacts
    from carnet.core.context import SYSTEM
    from carnet.core.db import get_database
    from carnet.webhooks import service as webhooks

    receiver = Receiver()
    env = {
        **os.environ,
        "CARNET_DATABASE_URL": scratch.url,
        "CARNET_REDIS_URL": _redis_db_for_this_test(),
        "CARNET_RUNNER": "celery",
        "CARNET_JOB_LEASE_SECONDS": "5",  # a killed worker's jobs run again after 5 s
        "CARNET_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        "CARNET_LOG_LEVEL": "WARNING",
        "CARNET_ENV": "development",
    }
    log = tmp_path / "celery.log"
    processes: list[subprocess.Popen[bytes]] = []
    kills = 0
    try:
        database = get_database()
        with database.session() as db:
            accounts.ensure_builtin_roles(db)
            user = accounts.create_user(
                db, SYSTEM, {"email": "fault@example.fr", "password": "fault-test-password", "role": "admin"}
            )
            admin = accounts.actor_for(user)
            for n in range(ENDPOINTS):
                webhooks.create_endpoint(
                    db,
                    admin,
                    {
                        "url": f"http://127.0.0.1:{receiver.port}/hook/{n}",
                        "event_types": ["contact.created"],
                        "rate_limit_per_second": 1000,
                        "max_concurrency": 100,
                    },
                )
        beat = _start(env, "beat", "--loglevel=WARNING", log=log)
        workers = [_start(env, "worker", "--concurrency=2", "--loglevel=WARNING", log=log) for _ in range(3)]
        processes += [beat, *workers]

        stop = threading.Event()
        progress_at_kills: list[int] = []  # deliveries received when each kill happened

        def chaos() -> None:
            nonlocal kills
            # Once deliveries flow, kill a worker every 2 s (a worker needs a few seconds to start,
            # so the other two carry on meanwhile; batched deliveries make a burst last seconds
            # only), at most MAX_KILLS times.
            while kills < MAX_KILLS and not stop.wait(KILL_EVERY):
                with receiver.lock:
                    received = len(receiver.seen)
                if received == 0:
                    continue
                progress_at_kills.append(received)
                index = random.randrange(len(workers))
                _kill(workers[index])
                kills += 1
                workers[index] = _start(env, "worker", "--concurrency=2", "--loglevel=WARNING", log=log)
                processes.append(workers[index])

        killer = threading.Thread(target=chaos, daemon=True)
        killer.start()
        created: list[str] = []
        burst_started = time.monotonic()
        with database.session() as db:
            for start in range(0, EVENTS, 100):  # the burst: 100 new contacts per commit
                batch = [
                    {"first_name": "Panne", "last_name": f"N°{n}"}
                    for n in range(start, min(start + 100, EVENTS))
                ]
                created += [str(contact.id) for contact in contacts.create_contacts(db, admin, batch)]
                db.commit()
        wanted = {(f"/hook/{e}", c) for e in range(ENDPOINTS) for c in created}
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            with receiver.lock:
                got = {(path, data_id) for path, _hook_id, data_id in receiver.seen}
            if wanted <= got:
                break
            time.sleep(1.0)
        stop.set()
        killer.join(10)
        print(
            f"burst of {EVENTS} events x {ENDPOINTS} endpoints delivered in {time.monotonic() - burst_started:.1f} s, {kills} workers killed"
        )
    finally:
        for process in processes:
            _kill(process)
        receiver.close()

    with receiver.lock:
        seen = list(receiver.seen)
    got = {(path, data_id) for path, _hook_id, data_id in seen}
    missing = wanted - got
    mid_burst = [n for n in progress_at_kills if 0 < n < len(wanted)]
    assert len(mid_burst) >= 3, (
        f"kills at {progress_at_kills} deliveries: too few during the burst to test anything"
    )
    if missing:
        from sqlalchemy import func, select

        from carnet.core import jobs

        with get_database().session() as db:
            states = db.execute(
                select(jobs.Job.name, jobs.Job.status, func.count()).group_by(jobs.Job.name, jobs.Job.status)
            ).all()
            errors = db.scalars(
                select(jobs.Job.last_error).where(jobs.Job.last_error.is_not(None)).limit(5)
            ).all()
        pytest.fail(
            f"{len(missing)} of {len(wanted)} deliveries never arrived ({len(seen)} received); jobs: {states}; errors: {errors}; celery log: {log.read_text()[-2000:]}"
        )
    # At least once, and a duplicate is recognisable: one webhook-id per (endpoint, event).
    ids_per_delivery: dict[tuple[str, str], set[str]] = defaultdict(set)
    for path, hook_id, data_id in seen:
        ids_per_delivery[(path, data_id)].add(hook_id)
    assert all(len(ids) == 1 for ids in ids_per_delivery.values())
    assert len({hook_id for _p, hook_id, _d in seen}) == EVENTS  # one webhook-id per event, all endpoints
