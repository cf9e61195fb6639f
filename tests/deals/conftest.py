"""Fixtures for the deals tests: the two demo pipelines and small factories."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from carnet.deals import pipelines
from carnet.deals.models import Pipeline, Stage


@dataclass
class Pipe:
    pipeline: Pipeline
    stages: dict[str, Stage]

    @property
    def id(self) -> int:
        return self.pipeline.id

    def stage(self, name: str) -> int:
        return self.stages[name].id


@pytest.fixture
def pipes(db) -> dict[str, Pipe]:
    """ "b2b" (Ventes B2B) and "sante" (Établissements de santé), committed in the test transaction."""
    pipelines.ensure_default_pipelines(db)
    db.commit()
    out = {}
    for key, name in (("b2b", "Ventes B2B"), ("sante", "Établissements de santé")):
        pipeline = next(p for p in db.query(Pipeline).all() if p.name == name)
        out[key] = Pipe(pipeline, {s.name: s for s in pipelines.stages(db, pipeline)})
    return out


@pytest.fixture
def make_org(api):
    def make(who: str = "alice", name: str = "Boulangerie Martin", **extra) -> int:
        r = api(who).post("/api/v1/organisations", json={"name": name, **extra})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    return make


@pytest.fixture
def make_deal(api, pipes):
    def make(who: str = "alice", **data) -> dict:
        body = {"title": "Offre Premium", "pipeline_id": pipes["b2b"].id, **data}
        r = api(who).post("/api/v1/deals", json=body)
        assert r.status_code == 201, r.text
        return r.json()

    return make


@pytest.fixture
def make_contact(db, personas):
    """Contacts are inserted directly: the contacts service is written in parallel."""
    from carnet.contacts.models import Contact

    def make(who: str = "alice", last_name: str = "Dupont", first_name: str = "Marc") -> int:
        contact = Contact(
            first_name=first_name,
            last_name=last_name,
            owner_id=personas[who].id,
            department_id=personas[who].department_id,
            emails=[],
            phones=[],
            custom_fields={},
        )
        db.add(contact)
        db.commit()
        return contact.id

    return make
