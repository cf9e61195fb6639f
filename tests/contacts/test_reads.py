"""The API read paths give what the ORM paths give: list pages read as plain rows, and
lifecycle.require_visible, which answers as get_visible without loading the record."""

from __future__ import annotations

import pytest

from carnet.accounts import service as accounts
from carnet.contacts import service
from carnet.core import lifecycle
from carnet.core.errors import NotFound
from carnet.core.listing import ListParams


def _actor(db, personas, who):  # type: ignore[no-untyped-def]
    return accounts.actor_for(accounts.get_user(db, personas[who].id))


def test_require_visible_follows_the_visibility_rule(db, personas):
    alice, bob, outsider = (_actor(db, personas, who) for who in ("alice", "bob", "outsider"))
    contact = service.create_contact(db, alice, {"last_name": "Roux"})
    for actor in (alice, bob):  # the owner, and a teammate of the same department
        assert lifecycle.require_visible(db, actor, "contact", contact.id) == contact.id
        assert lifecycle.get_visible(db, actor, "contact", str(contact.id)).id == contact.id
    for actor, record_id in (
        (outsider, contact.id),  # another department
        (alice, contact.id + 1000),  # no such contact
        (alice, 2**31),  # beyond any id
        (alice, "abc"),
        (alice, 0),
    ):
        with pytest.raises(NotFound):
            lifecycle.require_visible(db, actor, "contact", record_id)
        with pytest.raises(NotFound):
            lifecycle.get_visible(db, actor, "contact", record_id)


@pytest.mark.parametrize("sort", ["last_name", "-created_at", "-marketing_consent_at", "cf.segment", "-id"])
def test_a_page_read_as_rows_is_the_page_read_as_contacts(db, personas, sort):
    alice = _actor(db, personas, "alice")
    for i, name in enumerate(("Roux", "Abadie", "Roux", "Martin", "Zola")):
        service.create_contact(
            db,
            alice,
            {
                "last_name": name,
                "first_name": f"N{i}",
                "emails": [f"n{i}@example.fr"],
                "tags": ["vip"] if i % 2 else [],
                "marketing_consent": "granted" if i < 2 else "unknown",
            },
        )
    cursor, pages = None, 0
    while True:
        params = ListParams(sort=sort, limit=2, cursor=cursor)
        contacts, orm_cursor = service.list_contacts(db, alice, params)
        items, cursor = service.list_contact_reads(db, alice, params)
        assert items == service.api_reads(db, contacts)
        as_json = [service.ContactRead.model_validate(item).model_dump(mode="json") for item in items]
        assert as_json == service.reads(db, contacts)
        assert cursor == orm_cursor
        pages += 1
        if cursor is None:
            break
    assert pages >= 3
