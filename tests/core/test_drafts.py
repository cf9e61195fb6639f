"""`lifecycle.draft`: the plain new records set-based creates validate, then write with
`insert_new`. They read as a new ORM object reads (unset columns are None, properties work) and
are stored exactly as an ORM object written by `insert_new`."""

from __future__ import annotations

from sqlalchemy import select

from carnet.contacts.models import Contact
from carnet.core import lifecycle


def test_a_draft_reads_as_a_new_orm_object():
    draft = lifecycle.draft(Contact, first_name="Claire", last_name="Martin")
    new = Contact(first_name="Claire", last_name="Martin")
    for column in ("job_title", "emails", "owner_id", "version", "created_at", "id"):
        assert getattr(draft, column) is None is getattr(new, column), column
    assert draft.full_name == new.full_name == "Claire Martin"
    draft.job_title = "Directrice"
    assert draft.job_title == "Directrice"
    assert type(draft) is type(lifecycle.draft(Contact))  # one class per model
    assert not isinstance(draft, Contact)


def test_drafts_are_stored_as_orm_objects_are(db):
    values = {"first_name": "Claire", "last_name": "Martin", "emails": ["c@acme.fr"], "custom_fields": {}}
    orm, draft = Contact(**values), lifecycle.draft(Contact, **values)
    lifecycle.insert_new(db, Contact, [orm, draft])
    assert draft.id == orm.id + 1 and draft.version == orm.version == 1
    stored = {c.id: c for c in db.scalars(select(Contact).where(Contact.id.in_([orm.id, draft.id])))}
    columns = [attr.key for attr in Contact.__mapper__.column_attrs if attr.key != "id"]
    assert {c: getattr(stored[draft.id], c) for c in columns} == {
        c: getattr(stored[orm.id], c) for c in columns
    }
    assert stored[draft.id].marketing_consent == "unknown" and stored[draft.id].phones == []
