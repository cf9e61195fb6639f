"""Fixtures for import tests. Jobs run inline instead of in a thread: a thread would share the
test's single database connection with the test itself."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from carnet.accounts import service as accounts
from carnet.core.context import Actor
from carnet.imports import jobs


@pytest.fixture(autouse=True)
def inline_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "launch", lambda name, job_id, actor: jobs.WORK[name](job_id, actor))


@pytest.fixture
def actor_of(db, personas) -> Callable[[str], Actor]:
    def make(key: str) -> Actor:
        return accounts.actor_for(accounts.get_user(db, personas[key].id))

    return make
