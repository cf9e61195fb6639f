"""Fixtures for the workflow tests: actors for the personas, the demo pipelines, record factories."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from carnet.accounts import service as accounts
from carnet.accounts.models import User
from carnet.core.context import Actor
from carnet.deals import pipelines
from carnet.deals.models import Pipeline, Stage
from carnet.workflows import service


@pytest.fixture
def actor(db, personas) -> Callable[[str], Actor]:  # type: ignore[no-untyped-def]
    def make(key: str) -> Actor:
        return accounts.actor_for(db.get(User, personas[key].id))

    return make


@pytest.fixture
def stages(db) -> dict[str, Stage]:  # type: ignore[no-untyped-def]
    """The stages of the default demo pipeline (Ventes B2B), by name."""
    pipelines.ensure_default_pipelines(db)
    db.commit()
    pipeline = db.query(Pipeline).filter(Pipeline.is_default.is_(True)).one()
    return {s.name: s for s in pipelines.stages(db, pipeline)}


@pytest.fixture
def make_workflow(db, actor) -> Callable[..., Any]:  # type: ignore[no-untyped-def]
    def make(
        definition: dict[str, Any], name: str = "Test workflow", active: bool = True, who: str = "admin"
    ):
        wf = service.create_workflow(db, actor(who), {"name": name, "definition": definition})
        if active:
            service.enable(db, actor(who), wf)
        return wf

    return make


@pytest.fixture
def make_deal(db, actor, stages):  # type: ignore[no-untyped-def]
    """A deal owned by `who`, in a stage of the default pipeline (by name)."""
    from carnet.deals import service as deals

    def make(who: str = "alice", stage: str = "Qualification", **data: Any):
        return deals.create_deal(
            db,
            actor(who),
            {
                "title": "Offre Premium",
                "pipeline_id": stages[stage].pipeline_id,
                "stage_id": stages[stage].id,
                **data,
            },
        )

    return make


@pytest.fixture
def drain(db):  # type: ignore[no-untyped-def]
    """Dispatch events and run due jobs until nothing is due; expire what the session holds."""
    from carnet.core import jobs

    def run() -> int:
        done = jobs.drain()
        db.expire_all()
        return done

    return run
