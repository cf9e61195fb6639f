"""Custom fields: admins define typed fields per record type; values live in one validated JSON
column (`custom_fields`) on the record."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Boolean, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from carnet.core import audit, records
from carnet.core.context import Actor
from carnet.core.db import Base, IdMixin, JSONType, TimestampMixin
from carnet.core.errors import Conflict, FieldErrors, NotFound, PermissionDenied

FIELD_TYPES = (
    "text",
    "long_text",
    "number",
    "money",
    "date",
    "datetime",
    "boolean",
    "select",
    "multi_select",
    "url",
    "email",
    "phone",
    "user",
)
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,49}$")


class CustomFieldDefinition(IdMixin, TimestampMixin, Base):
    __tablename__ = "custom_field_definitions"
    __table_args__ = (UniqueConstraint("record_type", "key"),)

    record_type: Mapped[str] = mapped_column(String(60), index=True)
    key: Mapped[str] = mapped_column(String(50))
    label: Mapped[str] = mapped_column(String(120))
    field_type: Mapped[str] = mapped_column(String(20))
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    default: Mapped[Any] = mapped_column(JSONType, nullable=True)
    help_text: Mapped[str] = mapped_column(Text, default="")
    options: Mapped[list[str]] = mapped_column(JSONType, default=list)
    position: Mapped[int] = mapped_column(Integer, default=0)


def definitions(db: Session, record_type: str) -> list[CustomFieldDefinition]:
    cache: dict[str, list[CustomFieldDefinition]] = db.info.setdefault("custom_field_defs", {})
    if record_type not in cache:
        cache[record_type] = list(
            db.scalars(
                select(CustomFieldDefinition)
                .where(CustomFieldDefinition.record_type == record_type)
                .order_by(CustomFieldDefinition.position, CustomFieldDefinition.id)
            )
        )
    return cache[record_type]


def coerce(defn: CustomFieldDefinition, value: Any, errors: FieldErrors, db: Session | None = None) -> Any:
    """Validate one value and return its JSON form (None when empty)."""
    name = f"custom_fields.{defn.key}"
    if value is None or value == "" or value == []:
        return None
    t = defn.field_type
    try:
        if t in ("text", "long_text"):
            text = str(value)
            if len(text) > (10000 if t == "long_text" else 500):
                errors.add(name, "This text is too long", "too_long")
            return text
        if t == "number":
            if isinstance(value, bool):
                raise ValueError
            number = Decimal(str(value).replace(",", ".").replace(" ", ""))
            if not number.is_finite():
                raise ValueError
            return float(number) if number != number.to_integral_value() else int(number)
        if t == "money":
            if isinstance(value, bool):
                raise ValueError
            amount = Decimal(str(value).replace(",", ".").replace(" ", "").replace("€", ""))
            if not amount.is_finite():
                raise ValueError
            return str(amount.quantize(Decimal("0.01")))
        if t == "date":
            return (value if isinstance(value, date) else date.fromisoformat(str(value))).isoformat()
        if t == "datetime":
            return (value if isinstance(value, datetime) else datetime.fromisoformat(str(value))).isoformat()
        if t == "boolean":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("true", "1", "yes", "oui", "on"):
                return True
            if text in ("false", "0", "no", "non", "off"):
                return False
            raise ValueError
        if t == "select":
            if str(value) not in defn.options:
                errors.add(name, "Choose one of the listed values", "invalid_choice")
            return str(value)
        if t == "multi_select":
            items = (
                value if isinstance(value, list) else [v.strip() for v in str(value).split(",") if v.strip()]
            )
            bad = [str(v) for v in items if str(v) not in defn.options]
            if bad:
                errors.add(name, "Choose among the listed values", "invalid_choice")
            return [str(v) for v in items]
        if t == "url":
            text = str(value).strip()
            if not re.match(r"^https?://[^\s/$.?#].[^\s]*$", text, re.I):
                errors.add(name, "Enter a valid URL starting with http:// or https://", "invalid_url")
            return text
        if t == "email":
            try:
                return validate_email(str(value), check_deliverability=False).normalized
            except EmailNotValidError:
                errors.add(name, "Enter a valid email address", "invalid_email")
                return str(value)
        if t == "phone":
            parsed = phonenumbers.parse(str(value), "FR")
            if not phonenumbers.is_valid_number(parsed):
                raise ValueError
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        if t == "user":
            user_id = int(value)
            if db is not None:
                from sqlalchemy import column, table

                users = table("users", column("id"))
                if db.execute(select(users.c.id).where(users.c.id == user_id)).first() is None:
                    errors.add(name, "Unknown user", "unknown")
            return user_id
    except (ValueError, TypeError, InvalidOperation, phonenumbers.NumberParseException):
        errors.add(name, "Enter a valid value of type {type}", "invalid_type", type=t)
        return None
    return value


def validate(
    db: Session,
    record_type: str,
    incoming: dict[str, Any] | None,
    current: dict[str, Any] | None,
    errors: FieldErrors,
) -> dict[str, Any]:
    """Merge `incoming` into `current`, validating every value; unknown keys are errors."""
    defs = {d.key: d for d in definitions(db, record_type)}
    result = dict(current or {})
    incoming = incoming or {}
    if not isinstance(incoming, dict):
        errors.add("custom_fields", "Must be an object", "invalid_type")
        return result
    for key, value in incoming.items():
        if key not in defs:
            errors.add(f"custom_fields.{key}", "Unknown custom field", "unknown")
            continue
        result[key] = coerce(defs[key], value, errors, db)
    if current is None:  # creation: apply defaults
        for key, defn in defs.items():
            if result.get(key) is None and defn.default not in (None, ""):
                result[key] = coerce(defn, defn.default, errors, db)
    for key, defn in defs.items():
        if defn.required and result.get(key) in (None, "", []):
            errors.add(f"custom_fields.{key}", "This field is required", "required")
    return {k: v for k, v in result.items() if v is not None}


# -- definitions (admin) ---------------------------------------------------------------------------------


def _check_admin(actor: Actor) -> None:
    if not actor.can("custom_fields:admin"):
        raise PermissionDenied()


def _clean_definition(data: dict[str, Any], errors: FieldErrors, creating: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if creating:
        rt = data.get("record_type")
        if rt not in records.REGISTRY:
            errors.add("record_type", "Unknown record type", "unknown")
        out["record_type"] = rt
        key = (data.get("key") or "").strip()
        if not KEY_RE.match(key):
            errors.add(
                "key", "Use lower-case letters, digits and underscores, starting with a letter", "invalid"
            )
        out["key"] = key
        ft = data.get("field_type")
        if ft not in FIELD_TYPES:
            errors.add("field_type", "Unknown field type", "unknown")
        out["field_type"] = ft
    if creating or "label" in data:
        label = (data.get("label") or "").strip()
        if not label:
            errors.add("label", "This field is required", "required")
        out["label"] = label[:120]
    for key in ("required",):
        if key in data:
            out[key] = bool(data[key])
    for key in ("help_text",):
        if key in data:
            out[key] = (data[key] or "")[:2000]
    if "options" in data:
        opts = data["options"] or []
        if isinstance(opts, str):
            opts = [o.strip() for o in opts.splitlines() if o.strip()]
        out["options"] = [str(o)[:120] for o in opts]
    if "position" in data:
        out["position"] = int(data["position"] or 0)
    if "default" in data:
        out["default"] = data["default"]
    return out


def create_definition(db: Session, actor: Actor, data: dict[str, Any]) -> CustomFieldDefinition:
    _check_admin(actor)
    errors = FieldErrors()
    fields = _clean_definition(data, errors, creating=True)
    if fields.get("field_type") in ("select", "multi_select") and not fields.get("options"):
        errors.add("options", "Give at least one option", "required")
    if fields.get("key") and db.scalar(
        select(CustomFieldDefinition.id).where(
            CustomFieldDefinition.record_type == fields.get("record_type"),
            CustomFieldDefinition.key == fields["key"],
        )
    ):
        errors.add("key", "This value is already used", "unique")
    errors.raise_if_any()
    defn = CustomFieldDefinition(**fields, created_by_id=actor.user_id)
    if defn.default not in (None, ""):
        coerce(defn, defn.default, errors, db)
        errors.raise_if_any()
    db.add(defn)
    db.flush()
    db.info.pop("custom_field_defs", None)
    audit.record(db, actor, "create", "custom_field", defn.id, audit.diff({}, fields), defn.label)
    db.commit()
    return defn


def get_definition(db: Session, definition_id: int) -> CustomFieldDefinition:
    defn = db.get(CustomFieldDefinition, definition_id)
    if defn is None:
        raise NotFound()
    return defn


def update_definition(
    db: Session, actor: Actor, defn: CustomFieldDefinition, data: dict[str, Any]
) -> CustomFieldDefinition:
    _check_admin(actor)
    errors = FieldErrors()
    fields = _clean_definition(data, errors, creating=False)
    errors.raise_if_any()
    old = {k: getattr(defn, k) for k in fields}
    for key, value in fields.items():
        setattr(defn, key, value)
    db.info.pop("custom_field_defs", None)
    audit.record(db, actor, "update", "custom_field", defn.id, audit.diff(old, fields), defn.label)
    db.commit()
    return defn


def delete_definition(db: Session, actor: Actor, defn: CustomFieldDefinition) -> None:
    _check_admin(actor)
    if defn.required:
        raise Conflict("Make the field optional before deleting it")
    audit.record(
        db, actor, "delete", "custom_field", defn.id, {"key": {"old": defn.key, "new": None}}, defn.label
    )
    db.delete(defn)
    db.info.pop("custom_field_defs", None)
    db.commit()


def list_definitions(db: Session, record_type: str | None = None) -> list[CustomFieldDefinition]:
    stmt = select(CustomFieldDefinition).order_by(
        CustomFieldDefinition.record_type, CustomFieldDefinition.position, CustomFieldDefinition.id
    )
    if record_type:
        stmt = stmt.where(CustomFieldDefinition.record_type == record_type)
    return list(db.scalars(stmt))
