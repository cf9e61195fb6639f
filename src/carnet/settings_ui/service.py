"""Settings: custom field definitions and tags (validated here, stored by core), saved list views,
the audit trail reader and which settings sections a user may manage. All permission checks of
these screens live here."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.orm import Session

from carnet.accounts.models import User
from carnet.accounts.service import plain_page, require, require_any, valid_id
from carnet.core import audit, customfields, permissions, records, tags
from carnet.core.audit import AuditEntry
from carnet.core.context import Actor
from carnet.core.customfields import FIELD_TYPES, CustomFieldDefinition
from carnet.core.errors import FieldErrors, NotFound
from carnet.core.listing import Listing, ListParams
from carnet.core.tags import Tag
from carnet.settings_ui.models import SavedView

COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
COLUMN_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$")
MAX_OPTIONS = 200

# -- settings sections -----------------------------------------------------------------------------------

# The permissions that make a settings screen useful to someone (reading alone is not enough).
SECTIONS: dict[str, tuple[str, ...]] = {
    "users": ("users:create", "users:update", "users:admin"),
    "departments": ("departments:create", "departments:update", "departments:delete"),
    "roles": ("roles:admin",),
    "custom_fields": ("custom_fields:admin",),
    "tags": ("tags:update", "tags:delete"),
    "emails": ("emails:read",),
    "webhooks": ("webhooks:admin",),
    "project_templates": ("project_templates:create", "project_templates:update", "project_templates:delete"),
}


def settings_sections(actor: Actor) -> list[str]:
    return [name for name, needed in SECTIONS.items() if any(actor.can(p) for p in needed)]


def require_section(actor: Actor, section: str) -> None:
    require_any(actor, *SECTIONS[section])


def record_types(actor: Actor) -> list[records.RecordType]:
    """Record types the actor can read, in registry order."""
    return [rt for rt in records.REGISTRY.values() if actor.can(f"{rt.module}:read")]


# -- custom fields -----------------------------------------------------------------------------------------

CUSTOM_FIELD_LISTING = Listing(
    model=CustomFieldDefinition,
    record_type="custom_field",
    fields={
        "id": CustomFieldDefinition.id,
        "record_type": CustomFieldDefinition.record_type,
        "key": CustomFieldDefinition.key,
        "label": CustomFieldDefinition.label,
        "field_type": CustomFieldDefinition.field_type,
        "required": CustomFieldDefinition.required,
        "position": CustomFieldDefinition.position,
        "created_at": CustomFieldDefinition.created_at,
        "updated_at": CustomFieldDefinition.updated_at,
    },
    sortable={"record_type", "key", "label", "position", "created_at", "updated_at"},
)


def page_custom_fields(
    db: Session, actor: Actor, params: ListParams
) -> tuple[list[CustomFieldDefinition], str | None]:
    require(actor, "custom_fields:read")
    return plain_page(db, CUSTOM_FIELD_LISTING, select(CustomFieldDefinition), params)


def list_custom_fields(db: Session, actor: Actor, record_type: str) -> list[CustomFieldDefinition]:
    require(actor, "custom_fields:read")
    return customfields.list_definitions(db, record_type)


def find_custom_field(db: Session, actor: Actor, definition_id: int) -> CustomFieldDefinition:
    if not actor.can("custom_fields:read") or not valid_id(definition_id):
        raise NotFound()
    return customfields.get_definition(db, definition_id)


def _clean_options(data: dict[str, Any], errors: FieldErrors) -> None:
    if "options" not in data:
        return
    opts = data["options"] or []
    if isinstance(opts, str):
        opts = [o.strip() for o in opts.splitlines() if o.strip()]
    if not isinstance(opts, list):
        errors.add("options", "Must be a list of values", "invalid_type")
        return
    cleaned: list[str] = []
    for raw in opts:
        text = str(raw).strip()
        if len(text) > 120:
            errors.add("options", "An option is at most {max} characters", "too_long", max=120)
        elif text and text not in cleaned:
            cleaned.append(text)
    if len(cleaned) > MAX_OPTIONS:
        errors.add("options", "At most {max} options", "too_many", max=MAX_OPTIONS)
    data["options"] = cleaned


def _clean_position(data: dict[str, Any], errors: FieldErrors) -> None:
    if "position" not in data:
        return
    raw = data["position"]
    try:
        position = int(raw) if raw not in (None, "") and not isinstance(raw, bool) else 0
        if not -10_000 <= position <= 10_000:
            raise ValueError
        data["position"] = position
    except (TypeError, ValueError):
        errors.add(
            "position", "Must be a number between {min} and {max}", "out_of_range", min=-10000, max=10000
        )


def _clean_default(
    db: Session, data: dict[str, Any], field_type: Any, key: str, options: list[str], errors: FieldErrors
) -> None:
    """The default must be a valid value of the field; stored in its JSON form."""
    if "default" not in data:
        return
    if data["default"] in (None, "", []):
        data["default"] = None
        return
    if field_type not in FIELD_TYPES:
        return  # the field type error is reported on its own
    probe = CustomFieldDefinition(key=key or "x", field_type=field_type, options=options)
    found = FieldErrors()
    value = customfields.coerce(probe, data["default"], found, db)
    for err in found.errors:
        errors.add("default", err.message, err.code, **err.params)
    data["default"] = value


def create_custom_field(db: Session, actor: Actor, data: dict[str, Any]) -> CustomFieldDefinition:
    require(actor, "custom_fields:admin")
    data = dict(data)
    errors = FieldErrors()
    record_type = data.get("record_type")
    if record_type not in records.REGISTRY:
        errors.add("record_type", "Unknown record type", "unknown")
    key = str(data.get("key") or "").strip()
    if not customfields.KEY_RE.match(key):
        errors.add("key", "Use lower-case letters, digits and underscores, starting with a letter", "invalid")
    elif db.scalar(
        select(CustomFieldDefinition.id).where(
            CustomFieldDefinition.record_type == record_type, CustomFieldDefinition.key == key
        )
    ):
        errors.add("key", "This value is already used", "unique")
    data["key"] = key
    if data.get("field_type") not in FIELD_TYPES:
        errors.add("field_type", "Unknown field type", "unknown")
    if not str(data.get("label") or "").strip():
        errors.add("label", "This field is required", "required")
    _clean_options(data, errors)
    _clean_position(data, errors)
    if data.get("field_type") in ("select", "multi_select") and not data.get("options"):
        errors.add("options", "Give at least one option", "required")
    _clean_default(db, data, data.get("field_type"), key, data.get("options") or [], errors)
    errors.raise_if_any()
    return customfields.create_definition(db, actor, data)


def update_custom_field(
    db: Session, actor: Actor, defn: CustomFieldDefinition, data: dict[str, Any]
) -> CustomFieldDefinition:
    require(actor, "custom_fields:admin")
    data = {
        k: v
        for k, v in data.items()
        if k in ("label", "required", "default", "help_text", "options", "position")
    }
    errors = FieldErrors()
    _clean_options(data, errors)
    _clean_position(data, errors)
    options = data.get("options", defn.options) or []
    if defn.field_type in ("select", "multi_select") and not options:
        errors.add("options", "Give at least one option", "required")
    _clean_default(db, data, defn.field_type, defn.key, options, errors)
    if "label" in data and not str(data.get("label") or "").strip():
        errors.add("label", "This field is required", "required")
    errors.raise_if_any()
    return customfields.update_definition(db, actor, defn, data)


def delete_custom_field(db: Session, actor: Actor, defn: CustomFieldDefinition) -> None:
    customfields.delete_definition(db, actor, defn)


# -- tags ------------------------------------------------------------------------------------------------------

TAG_LISTING = Listing(
    model=Tag,
    record_type="tag",
    fields={
        "id": Tag.id,
        "record_type": Tag.record_type,
        "name": Tag.name,
        "color": Tag.color,
        "created_at": Tag.created_at,
        "updated_at": Tag.updated_at,
    },
    sortable={"record_type", "name", "created_at", "updated_at"},
)


def page_tags(db: Session, actor: Actor, params: ListParams) -> tuple[list[Tag], str | None]:
    require(actor, "tags:read")
    return plain_page(db, TAG_LISTING, select(Tag), params)


def list_tags(db: Session, actor: Actor, record_type: str) -> list[Tag]:
    require(actor, "tags:read")
    return tags.list_tags(db, record_type)


def tag_usage(db: Session, actor: Actor, tag_ids: list[int]) -> dict[int, int]:
    """How many records carry each tag (all records: a count reveals no record)."""
    require(actor, "tags:read")
    if not tag_ids:
        return {}
    rows = db.execute(
        select(tags.Tagging.tag_id, func.count())
        .where(tags.Tagging.tag_id.in_(tag_ids))
        .group_by(tags.Tagging.tag_id)
    )
    return {tag_id: count for tag_id, count in rows}


def find_tag(db: Session, actor: Actor, tag_id: int) -> Tag:
    if not actor.can("tags:read") or not valid_id(tag_id):
        raise NotFound()
    return tags.get_tag(db, tag_id)


def _clean_tag(
    db: Session, data: dict[str, Any], record_type: str, current: Tag | None, errors: FieldErrors
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "name" in data or current is None:
        name = str(data.get("name") or "").strip()
        if not name:
            errors.add("name", "This field is required", "required")
        elif len(name) > 60 or "," in name:
            errors.add("name", "At most 60 characters, without commas", "invalid")
        elif record_type in records.REGISTRY:
            clash = db.scalar(
                select(Tag.id).where(Tag.record_type == record_type, func.lower(Tag.name) == name.lower())
            )
            if clash and (current is None or clash != current.id):
                errors.add("name", "This value is already used", "unique")
        out["name"] = name
    if "color" in data:
        color = str(data.get("color") or "").strip()
        # The colour ends up in a style attribute: only #rrggbb is accepted.
        if color and not COLOR_RE.match(color):
            errors.add("color", "Use a colour like #3b4fd8", "invalid")
        out["color"] = color
    return out


def create_tag(db: Session, actor: Actor, data: dict[str, Any]) -> Tag:
    require(actor, "tags:create")
    record_type = data.get("record_type")
    errors = FieldErrors()
    if record_type not in records.REGISTRY:
        errors.add("record_type", "Unknown record type", "unknown")
    cleaned = _clean_tag(db, data, str(record_type), None, errors)
    errors.raise_if_any()
    return tags.create_tag(db, actor, {"record_type": record_type, **cleaned})


def update_tag(db: Session, actor: Actor, tag: Tag, data: dict[str, Any]) -> Tag:
    require(actor, "tags:update")
    errors = FieldErrors()
    cleaned = _clean_tag(db, data, tag.record_type, tag, errors)
    errors.raise_if_any()
    return tags.update_tag(db, actor, tag, cleaned)


def delete_tag(db: Session, actor: Actor, tag: Tag) -> None:
    tags.delete_tag(db, actor, tag)


# -- saved views ----------------------------------------------------------------------------------------------

SAVED_VIEW_LISTING = Listing(
    model=SavedView,
    record_type="saved_view",
    fields={
        "id": SavedView.id,
        "record_type": SavedView.record_type,
        "name": SavedView.name,
        "created_at": SavedView.created_at,
    },
    sortable={"record_type", "name", "created_at"},
)


def list_saved_views(db: Session, actor: Actor, record_type: str | None = None) -> list[SavedView]:
    """The actor's own views (nobody sees another user's views)."""
    stmt = select(SavedView).where(SavedView.user_id == (actor.user_id or 0))
    if record_type:
        stmt = stmt.where(SavedView.record_type == record_type)
    return list(db.scalars(stmt.order_by(SavedView.record_type, SavedView.name, SavedView.id)))


def page_saved_views(db: Session, actor: Actor, params: ListParams) -> tuple[list[SavedView], str | None]:
    stmt = select(SavedView).where(SavedView.user_id == (actor.user_id or 0))
    return plain_page(db, SAVED_VIEW_LISTING, stmt, params)


def get_saved_view(db: Session, actor: Actor, view_id: int) -> SavedView:
    view = db.get(SavedView, view_id) if valid_id(view_id) else None
    if view is None or view.user_id != actor.user_id:
        raise NotFound()
    return view


def clean_query(raw: Any) -> str:
    """A list page's query string without its cursor, in a stable form."""
    text = str(raw or "").strip().lstrip("?")
    pairs = [(k, v) for k, v in parse_qsl(text, keep_blank_values=False) if k not in ("cursor", "view")]
    return urlencode(pairs)


def create_saved_view(db: Session, actor: Actor, data: dict[str, Any]) -> SavedView:
    if actor.user_id is None:
        raise NotFound()
    errors = FieldErrors()
    record_type = data.get("record_type")
    rt = records.REGISTRY.get(record_type) if isinstance(record_type, str) else None
    if rt is None or not actor.can(f"{rt.module}:read"):
        errors.add("record_type", "Unknown record type", "unknown")
    name = str(data.get("name") or "").strip()
    if not name:
        errors.add("name", "This field is required", "required")
    elif len(name) > 120:
        errors.add("name", "At most {max} characters", "too_long", max=120)
    elif rt is not None and db.scalar(
        select(SavedView.id).where(
            SavedView.user_id == actor.user_id,
            SavedView.record_type == rt.name,
            func.lower(SavedView.name) == name.lower(),
        )
    ):
        errors.add("name", "This value is already used", "unique")
    query = clean_query(data.get("query"))
    if len(query) > 2000:
        errors.add("query", "At most {max} characters", "too_long", max=2000)
    columns = data.get("columns") or []
    if isinstance(columns, str):
        columns = [c.strip() for c in columns.split(",") if c.strip()]
    if not isinstance(columns, list) or len(columns) > 50:
        errors.add("columns", "Give at most 50 column names", "invalid")
        columns = []
    elif any(not isinstance(c, str) or len(c) > 60 or not COLUMN_RE.match(c) for c in columns):
        errors.add("columns", "Unknown column name", "invalid")
    errors.raise_if_any()
    view = SavedView(
        user_id=actor.user_id,
        record_type=rt.name,
        name=name,
        query=query,
        columns=list(dict.fromkeys(columns)),
    )
    db.add(view)
    db.flush()
    audit.record(
        db,
        actor,
        "create",
        "saved_view",
        view.id,
        audit.diff(
            {}, {"record_type": view.record_type, "name": name, "query": query, "columns": view.columns}
        ),
        name,
    )
    db.commit()
    return view


def delete_saved_view(db: Session, actor: Actor, view: SavedView) -> None:
    if view.user_id != actor.user_id:
        raise NotFound()
    audit.record(
        db, actor, "delete", "saved_view", view.id, {"name": {"old": view.name, "new": None}}, view.name
    )
    db.delete(view)
    db.commit()


# -- audit trail ------------------------------------------------------------------------------------------------

AUDIT_LISTING = Listing(
    model=AuditEntry,
    record_type="audit_entry",
    fields={
        "id": AuditEntry.id,
        "seq": AuditEntry.seq,
        "occurred_at": AuditEntry.occurred_at,
        "actor_id": AuditEntry.actor_id,
        "action": AuditEntry.action,
        "record_type": AuditEntry.record_type,
        "record_id": AuditEntry.record_id,
    },
    sortable={"seq", "occurred_at"},
)
# Offered as suggestions in the filter; other modules add their own actions.
KNOWN_ACTIONS = (
    "create",
    "update",
    "delete",
    "import",
    "export",
    "login",
    "login_failed",
    "login_refused",
    "2fa_setup",
    "2fa_enabled",
    "2fa_disabled",
    "2fa_passed",
    "2fa_failed",
    "password_change",
    "permission_change",
    "token_create",
    "token_revoke",
)
ACCOUNT_RECORD_TYPES = ("user", "department", "role", "visibility", "custom_field", "tag", "saved_view")


def _audit_scope(db: Session, actor: Actor) -> ColumnElement[bool]:
    """Non-admins see entries about records they can see, and the other entries (accounts,
    settings) made by people of their own department."""
    clauses: list[ColumnElement[bool]] = []
    for rt in records.REGISTRY.values():
        if actor.can(f"{rt.module}:read"):
            visible_ids = select(rt.model.id).where(
                permissions.visible_for_model(db, actor, rt.name, rt.model)
            )
            clauses.append(and_(AuditEntry.record_type == rt.name, AuditEntry.record_id.in_(visible_ids)))
    not_records = AuditEntry.record_type.not_in(list(records.REGISTRY)) if records.REGISTRY else None
    if actor.department_id is not None:
        team = select(User.id).where(User.department_id == actor.department_id)
        by_team = AuditEntry.actor_id.in_(team)
    else:
        by_team = AuditEntry.actor_id == actor.user_id
    clauses.append(and_(not_records, by_team) if not_records is not None else by_team)
    return or_(*clauses) if clauses else false()


def page_audit(db: Session, actor: Actor, params: ListParams) -> tuple[list[AuditEntry], str | None]:
    """Audit entries, newest first by default. Filters: actor_id, action, record_type, record_id,
    occurred_at__gte / __lte."""
    require(actor, "audit:read")
    stmt = select(AuditEntry)
    if not actor.is_admin:
        stmt = stmt.where(_audit_scope(db, actor))
    return plain_page(db, AUDIT_LISTING, stmt, params)


def _local_bound(raw: str, tz: str, field_name: str, end: bool, errors: FieldErrors) -> str | None:
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        errors.add(field_name, "Enter a date like 2026-01-31", "invalid_date")
        return None
    if end:
        day = day + timedelta(days=1)
    moment = datetime.combine(day, time.min, tzinfo=ZoneInfo(tz)).astimezone(UTC)
    if end:
        moment -= timedelta(microseconds=1)
    return moment.isoformat()


def audit_params(raw: dict[str, str], tz: str, limit: int = 50) -> ListParams:
    """Turn the audit page's filter form (user, action, record type, record id, local date range)
    into list parameters; field errors carry the form's field names."""
    errors = FieldErrors()
    filters: dict[str, str] = {}
    for form_key, list_key in (("user", "actor_id"), ("record_id", "record_id")):
        value = (raw.get(form_key) or "").strip()
        if value:
            if not value.isdigit() or not valid_id(int(value)):
                errors.add(form_key, "Enter a number", "invalid")
            else:
                filters[list_key] = value
    for key in ("action", "record_type"):
        value = (raw.get(key) or "").strip()
        if value:
            filters[key] = value[:60]
    for form_key, end in (("date_from", False), ("date_to", True)):
        value = (raw.get(form_key) or "").strip()
        if value:
            bound = _local_bound(value, tz, form_key, end, errors)
            if bound:
                filters["occurred_at__lte" if end else "occurred_at__gte"] = bound
    cursor = (raw.get("cursor") or "").strip() or None
    errors.raise_if_any()
    return ListParams(filters=filters, sort="-id", limit=limit, cursor=cursor)


def search_audit(
    db: Session, actor: Actor, raw: dict[str, str], tz: str
) -> tuple[list[AuditEntry], str | None]:
    """The audit page: its filter form in, one page of entries out."""
    require(actor, "audit:read")
    return page_audit(db, actor, audit_params(raw, tz))
