"""lifecycle.require_visible answers exactly as get_visible, without loading the record."""

from __future__ import annotations

import pytest

from carnet.accounts import service as accounts
from carnet.contacts import service
from carnet.core import lifecycle
from carnet.core.errors import NotFound


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
