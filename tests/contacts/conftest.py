"""Factories for the contacts tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from carnet.core.context import Actor


@pytest.fixture
def actor_of(db, personas) -> Callable[[str], Actor]:  # type: ignore[no-untyped-def]
    """actor_of("alice") -> the Actor a service call receives for that persona."""
    from carnet.accounts import service as accounts

    def make(key: str) -> Actor:
        return accounts.actor_for(accounts.get_user(db, personas[key].id))

    return make


@pytest.fixture
def make_org(api) -> Callable[..., dict[str, Any]]:  # type: ignore[no-untyped-def]
    """make_org("alice", "ACME", city="Lyon") -> the organisation as the API returns it."""

    def make(key: str, name: str, **fields: Any) -> dict[str, Any]:
        r = api(key).post("/api/v1/organisations", json={"name": name, **fields})
        assert r.status_code == 201, r.text
        return r.json()

    return make


@pytest.fixture
def make_contact(api) -> Callable[..., dict[str, Any]]:  # type: ignore[no-untyped-def]
    """make_contact("alice", "Martin", first_name="Claire") -> the contact as the API returns it."""

    def make(key: str, last_name: str, **fields: Any) -> dict[str, Any]:
        r = api(key).post("/api/v1/contacts", json={"last_name": last_name, **fields})
        assert r.status_code == 201, r.text
        return r.json()

    return make
