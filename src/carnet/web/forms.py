"""Turning HTML form posts into the dicts services take."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from carnet.core import customfields

LIST_FIELDS = {"emails", "phones", "tags", "contact_ids", "participant_ids"}


def form_to_data(
    form: FormData, fields: tuple[str, ...], db: Session | None = None, record_type: str | None = None
) -> dict[str, Any]:
    """Only fields present in the form are returned, so a partial form is a partial update.
    Empty strings become None; list fields are split on commas and new lines; `cf.<key>` inputs
    go to `custom_fields`."""
    data: dict[str, Any] = {}
    for name in fields:
        if name not in form:
            continue
        if name in LIST_FIELDS:
            raw = ",".join(str(v) for v in form.getlist(name))
            data[name] = [p.strip() for p in raw.replace("\n", ",").split(",") if p.strip()]
            continue
        value = form.get(name)
        value = value.strip() if isinstance(value, str) else value
        if name.endswith("_id") and value:
            try:
                value = int(value)
            except ValueError:
                pass
        data[name] = value if value != "" else None
    if db is not None and record_type:
        custom: dict[str, Any] = {}
        for d in customfields.definitions(db, record_type):
            key = f"cf.{d.key}"
            if d.field_type == "multi_select":
                if key in form or "_cf_present" in form:
                    custom[d.key] = [str(v) for v in form.getlist(key)]
            elif d.field_type == "boolean":
                if "_cf_present" in form:
                    custom[d.key] = key in form
            elif key in form:
                custom[d.key] = form.get(key) or None
        if custom:
            data["custom_fields"] = custom
    return data
