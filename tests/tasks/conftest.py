"""Factories for the records tasks link to. Contacts get their service in a parallel branch; until
it is merged, rows are inserted directly and the record type registered here."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import replace

import pytest

from carnet.contacts.models import Contact
from carnet.core import records
from carnet.core.context import Actor

try:
    importlib.import_module("carnet.contacts.service")  # registers "contact"
except ModuleNotFoundError:
    records.register("contact", Contact, "contacts", "Contact", "/contacts")


@pytest.fixture
def make_org(api):  # type: ignore[no-untyped-def]
    def make(owner: str = "alice", name: str = "Boulangerie Martin") -> int:
        r = api(owner).post("/api/v1/organisations", json={"name": name})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    return make


@pytest.fixture
def make_contact(db, personas):  # type: ignore[no-untyped-def]
    def make(owner: str = "alice", last_name: str = "Dupont") -> int:
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
        db.commit()
        return contact.id

    return make


@pytest.fixture
def actor_of(db, personas) -> Callable[..., Actor]:  # type: ignore[no-untyped-def]
    """actor_of("alice", timezone="UTC") -> the Actor a request by alice would carry."""
    from carnet.accounts import service as accounts

    def make(key: str, **changes: str) -> Actor:
        return replace(accounts.actor_for(accounts.get_user(db, personas[key].id)), **changes)

    return make
