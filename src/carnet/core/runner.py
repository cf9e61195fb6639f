"""Who runs the jobs: the embedded runner (threads of `carnet serve`) or Celery (`carnet worker`).

`CARNET_RUNNER` picks one: `embedded` (default: `make run` needs no other process), `celery` (API
processes only publish; `carnet worker` and `carnet beat` run the jobs) or `off` (tests, one-off
commands). Either way the job rows are the truth; the runner only decides when to look at them.

A commit that emitted events or enqueued jobs wakes the runner at once (embedded) or publishes the
job ids (Celery), so work starts within milliseconds instead of at the next poll.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from carnet.core import events, jobs

log = logging.getLogger("carnet.runner")

WAKE = "carnet.wake"  # session.info flag: this transaction emitted events or enqueued jobs
JOB_IDS = "carnet.job_ids"  # session.info list: jobs enqueued in this transaction

_after_commit: list[Callable[[list[int]], None]] = []
DISPATCH_GATHER_SECONDS = 0.01


def on_commit(callback: Callable[[list[int]], None]) -> None:
    """Call `callback(job_ids)` after each commit that emitted events or enqueued jobs (the jobs
    worth a message: see `jobs.message_ids`)."""
    _after_commit.append(callback)


def _mark(session: Session, new_jobs: list[Any]) -> None:  # Job or jobs.Enqueued
    session.info[WAKE] = True
    session.info.setdefault(JOB_IDS, []).extend(new_jobs)


jobs.on_enqueue(_mark)
events.on_emit(lambda session: session.info.__setitem__(WAKE, True))


@sa_event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if not session.info.pop(WAKE, False):
        return
    new_jobs = [(job.id, job.name) for job in session.info.pop(JOB_IDS, []) if job.id is not None]
    job_ids = jobs.message_ids(new_jobs)  # a batch task's jobs: one id per batch
    for callback in _after_commit:
        try:
            callback(job_ids)
        except Exception:  # the rows are committed; the periodic sweep finds them anyway
            log.exception("after-commit notification failed")


@sa_event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(WAKE, None)
    session.info.pop(JOB_IDS, None)


class EmbeddedRunner:
    """A dispatcher thread (periodic slots, lease recovery, events) and `threads` job threads."""

    def __init__(self, threads: int = 4, poll_seconds: float = 0.5) -> None:
        self.threads = threads
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._jobs_wake = threading.Event()
        self._workers: list[threading.Thread] = []

    def wake(self, job_ids: Any = None) -> None:
        """After a commit: the dispatcher looks for events; the job threads only when the commit
        enqueued jobs (a dispatch whose consumers enqueued some is such a commit)."""
        self._wake.set()
        if job_ids is None or job_ids:
            self._jobs_wake.set()

    def start(self) -> None:
        on_commit(self.wake)
        self._workers = [threading.Thread(target=self._dispatch_loop, name="carnet-dispatcher", daemon=True)]
        self._workers += [
            threading.Thread(target=self._job_loop, name=f"carnet-jobs-{n}", daemon=True)
            for n in range(self.threads)
        ]
        for thread in self._workers:
            thread.start()
        log.info("embedded job runner started with %s job threads", self.threads)

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self.wake()
        if self.wake in _after_commit:
            _after_commit.remove(self.wake)
        deadline = time.monotonic() + timeout
        for thread in self._workers:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _dispatch_loop(self) -> None:
        last_tick = 0.0
        while not self._stop.is_set():
            self._wake.clear()  # before looking: a wake-up during the look is kept
            try:
                if time.monotonic() - last_tick >= 1.0:
                    jobs.tick()
                    last_tick = time.monotonic()
                dispatched = events.dispatch_pending()
            except Exception:
                log.exception("event dispatch failed; retrying in a second")
                dispatched = 0
                self._stop.wait(1.0)
            # Jobs the consumers enqueued woke the job threads when the batch committed. A full
            # batch may have left events behind: look again at once; otherwise wait for a commit.
            if dispatched >= events.DISPATCH_BATCH:
                continue
            if self._wake.wait(self.poll_seconds):
                # Woken by a commit: let the events of concurrent commits gather, then dispatch
                # them as one batch rather than one dispatch transaction per commit.
                self._stop.wait(DISPATCH_GATHER_SECONDS)

    def _job_loop(self) -> None:
        while not self._stop.is_set():
            self._jobs_wake.clear()  # before looking: a wake-up during the look is kept
            try:
                ran = jobs.run_due(limit=5)
            except Exception:
                log.exception("job runner failed; retrying in a second")
                ran = 0
                self._stop.wait(1.0)
            if not ran:
                self._jobs_wake.wait(self.poll_seconds)


_embedded: EmbeddedRunner | None = None


def start_embedded(threads: int) -> EmbeddedRunner:
    global _embedded
    if _embedded is None:
        _embedded = EmbeddedRunner(threads=threads)
        _embedded.start()
    return _embedded


def stop_embedded() -> None:
    global _embedded
    if _embedded is not None:
        _embedded.stop()
        _embedded = None
