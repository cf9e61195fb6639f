"""Factories for the records activities link to. Contacts and deals get their services in
parallel branches; until they are merged, the rows are inserted directly and their record types
registered here so the generic routes (`/api/v1/contacts/{id}/timeline`) exist."""

from __future__ import annotations

import importlib

import pytest

from carnet.contacts.models import Contact, ContactOrganisation
from carnet.core import records
from carnet.deals.models import Deal, Pipeline, Stage

try:
    importlib.import_module("carnet.contacts.service")  # registers "contact"
except ModuleNotFoundError:
    records.register("contact", Contact, "contacts", "Contact", "/contacts")
try:
    importlib.import_module("carnet.deals.service")  # registers "deal"
except ModuleNotFoundError:
    records.register("deal", Deal, "deals", "Deal", "/deals")


@pytest.fixture
def make_org(api):  # type: ignore[no-untyped-def]
    def make(owner: str = "alice", name: str = "Boulangerie Martin") -> int:
        r = api(owner).post("/api/v1/organisations", json={"name": name})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    return make


@pytest.fixture
def make_contact(db, personas):  # type: ignore[no-untyped-def]
    def make(owner: str = "alice", last_name: str = "Dupont", organisations: tuple[int, ...] = ()) -> int:
        person = personas[owner]
        contact = Contact(
            first_name="Marc",
            last_name=last_name,
            emails=[],
            phones=[],
            custom_fields={},
            owner_id=person.id,
            department_id=person.department_id,
        )
        db.add(contact)
        db.flush()
        for org_id in organisations:
            db.add(ContactOrganisation(contact_id=contact.id, organisation_id=org_id))
        db.commit()
        return contact.id

    return make


@pytest.fixture
def make_deal(db, personas):  # type: ignore[no-untyped-def]
    def make(owner: str = "alice", organisation_id: int | None = None, title: str = "Offre Premium") -> int:
        person = personas[owner]
        pipeline = Pipeline(name=f"Pipeline {title} {owner}")
        db.add(pipeline)
        db.flush()
        stage = Stage(pipeline_id=pipeline.id, name="Découverte", kind="open")
        db.add(stage)
        db.flush()
        deal = Deal(
            title=title,
            organisation_id=organisation_id,
            pipeline_id=pipeline.id,
            stage_id=stage.id,
            custom_fields={},
            owner_id=person.id,
            department_id=person.department_id,
        )
        db.add(deal)
        db.commit()
        return deal.id

    return make
