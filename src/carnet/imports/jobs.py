"""Background runs of imports and undos: a thread of the web process per job.

`launch` is what the API and the UI call once the service has marked the job running; the CLI and
the tests call `service.run_import` / `service.run_undo` directly (synchronously). The thread
opens its own sessions through `core.db.get_database()`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from carnet.core.context import Actor
from carnet.imports import service

log = logging.getLogger("carnet.imports")

_threads: dict[int, threading.Thread] = {}
_lock = threading.Lock()

WORK: dict[str, Callable[[int, Actor], None]] = {
    "imports.run": service.run_import,
    "imports.undo": service.run_undo,
}


def _guarded(name: str, job_id: int, actor: Actor) -> None:
    try:
        WORK[name](job_id, actor)
    except Exception:  # a thread has nobody to raise to: log it
        log.exception("%s failed for import %s", name, job_id)
    finally:
        with _lock:
            _threads.pop(job_id, None)


def launch(name: str, job_id: int, actor: Actor) -> None:
    """Run `name` ("imports.run" or "imports.undo") for the job in a background thread."""
    thread = threading.Thread(
        target=_guarded, args=(name, job_id, actor), name=f"{name}-{job_id}", daemon=True
    )
    with _lock:
        _threads[job_id] = thread
    thread.start()


def wait(job_id: int, timeout: float = 60.0) -> bool:
    """Block until the job's thread ends (tests, shutdown); True if it has."""
    with _lock:
        thread = _threads.get(job_id)
    if thread is None:
        return True
    thread.join(timeout)
    return not thread.is_alive()
