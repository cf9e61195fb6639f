"""Fixtures for import tests. Starting an import enqueues its background job; here the job runs
at once, in the request, as the runner would run it a moment later."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from carnet.accounts import service as accounts
from carnet.core import jobs
from carnet.core.context import Actor
from carnet.imports import service


@pytest.fixture(autouse=True)
def inline_jobs(monkeypatch: pytest.MonkeyPatch) -> dict[str, Callable[..., object]]:
    """Returns the unpatched start functions, for the tests of the queued state itself."""
    originals = {}
    for name in ("start_import", "start_undo"):
        start = originals[name] = getattr(service, name)

        def start_and_run(*args, _start=start, **kwargs):  # type: ignore[no-untyped-def]
            job = _start(*args, **kwargs)
            jobs.run_due(queues=["imports"])
            return job

        monkeypatch.setattr(service, name, start_and_run)
    return originals


@pytest.fixture
def actor_of(db, personas) -> Callable[[str], Actor]:
    def make(key: str) -> Actor:
        return accounts.actor_for(accounts.get_user(db, personas[key].id))

    return make
