"""Generic list queries: filters on every field (and custom fields), sorting, and keyset
(cursor) pagination that stays fast at millions of rows.

Query parameters understood, for a field `f` the model declares filterable:
  f=value            equality (comma-separated values mean "any of")
  f__gte / f__lte    ranges, f__contains for case-insensitive substring, f__isnull=true|false
  cf.<key>=value     custom field equality (and cf.<key>__gte, __lte, __contains)
  tag=name           records carrying the tag
  sort=f | -f | cf.<key> | -cf.<key>
  limit (<= 200), cursor, created_since, updated_since
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Boolean, Date, Integer, Numeric, Row, Select, and_, func, or_
from sqlalchemy.orm import InstrumentedAttribute

from carnet.core import tags as tags_module
from carnet.core.db import UTCDateTime
from carnet.core.errors import FieldErrors, ValidationFailed

MAX_LIMIT = 200
RESERVED = {
    "limit",
    "cursor",
    "sort",
    "created_since",
    "updated_since",
    "tag",
    "q",
    "format",
    "columns",
    "view",
}


@dataclass
class ListParams:
    filters: dict[str, str] = field(default_factory=dict)
    sort: str = "-id"
    limit: int = 50
    cursor: str | None = None
    created_since: datetime | None = None
    updated_since: datetime | None = None
    tag: str | None = None
    q: str | None = None


def parse_params(raw: dict[str, str], default_sort: str = "-id", default_limit: int = 50) -> ListParams:
    errors = FieldErrors()
    params = ListParams(
        sort=raw.get("sort") or default_sort, cursor=raw.get("cursor") or None, tag=raw.get("tag") or None
    )
    params.q = raw.get("q") or None
    try:
        params.limit = int(raw.get("limit") or default_limit)
        if not 1 <= params.limit <= MAX_LIMIT:
            raise ValueError
    except ValueError:
        errors.add("limit", "Must be a number between 1 and {max}", "out_of_range", max=MAX_LIMIT)
    for key in ("created_since", "updated_since"):
        if raw.get(key):
            try:
                value = datetime.fromisoformat(raw[key].replace("Z", "+00:00"))
                if value.tzinfo is None:
                    from datetime import UTC

                    value = value.replace(tzinfo=UTC)
                setattr(params, key, value)
            except ValueError:
                errors.add(key, "Enter a date and time in ISO 8601 format", "invalid_datetime")
    params.filters = {k: v for k, v in raw.items() if k not in RESERVED and v != ""}
    errors.raise_if_any()
    return params


def _convert(column: Any, value: str, name: str, errors: FieldErrors) -> Any:
    ctype = column.type
    try:
        if isinstance(ctype, Boolean):
            if value.lower() in ("true", "1", "yes", "oui"):
                return True
            if value.lower() in ("false", "0", "no", "non"):
                return False
            raise ValueError
        if isinstance(ctype, Integer):
            number = int(value)
            if abs(number) > 2**63 - 1:  # beyond any integer column: a user error, never a 500
                raise ValueError
            return number
        if isinstance(ctype, Numeric):
            return Decimal(value)
        if isinstance(ctype, UTCDateTime):
            from datetime import UTC

            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        if isinstance(ctype, Date):
            return date.fromisoformat(value)
    except (ValueError, InvalidOperation):
        errors.add(name, "Invalid filter value", "invalid_filter")
        return None
    return value


@dataclass
class Listing:
    """Describes how one record type can be listed."""

    model: Any
    record_type: str
    fields: dict[str, Any]  # public name -> column (or SQL expression)
    sortable: set[str]
    search_columns: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        # Polling ("what is new since my last read, newest first") works on every list whose rows
        # carry the timestamps, whether or not its domain listed them.
        for name in ("created_at", "updated_at"):
            column = getattr(self.model, name, None)
            if column is not None:
                self.fields.setdefault(name, column)
                self.sortable = set(self.sortable) | {name}

    def column(self, name: str) -> Any:
        if name.startswith("cf."):
            key = name[3:]
            if not key.replace("_", "").isalnum():
                raise ValidationFailed.on(name, "Unknown field", "unknown_field")
            return self.model.custom_fields[key].as_string()
        if name not in self.fields:
            raise ValidationFailed.on(name, "Unknown field", "unknown_field")
        return self.fields[name]

    def apply_filters(self, stmt: Select, params: ListParams) -> Select:
        errors = FieldErrors()
        for key, value in params.filters.items():
            name, _, op = key.partition("__")
            if name not in self.fields and not name.startswith("cf."):
                errors.add(key, "Unknown filter", "unknown_filter")
                continue
            column = self.column(name)
            if name.startswith("cf."):
                converted: Any = value
                if op in ("gte", "lte"):
                    column = self.model.custom_fields[name[3:]].as_float()
                    try:
                        converted = float(value)
                    except ValueError:
                        errors.add(key, "Invalid filter value", "invalid_filter")
                        continue
            if op == "contains":
                stmt = stmt.where(func.lower(column).contains(value.lower(), autoescape=True))
            elif op == "isnull":
                stmt = stmt.where(column.is_(None) if value.lower() in ("true", "1") else column.is_not(None))
            elif op in ("gte", "lte"):
                if not name.startswith("cf."):
                    converted = _convert(column, value, key, errors)
                if converted is not None:
                    stmt = stmt.where(column >= converted if op == "gte" else column <= converted)
            elif op in ("", "in"):
                values = [v for v in value.split(",")] if ("," in value and op in ("", "in")) else [value]
                if not name.startswith("cf."):
                    values = [_convert(column, v, key, errors) for v in values]
                if len(values) == 1:
                    stmt = stmt.where(column == values[0])
                else:
                    stmt = stmt.where(column.in_(values))
            else:
                errors.add(key, "Unknown filter operator", "unknown_filter")
        if params.tag:
            stmt = stmt.where(tags_module.has_tag(self.record_type, self.model.id, params.tag))
        for name, since in (("created_at", params.created_since), ("updated_at", params.updated_since)):
            if since is None:
                continue
            if name not in self.fields:
                errors.add(name.replace("_at", "_since"), "Unknown filter", "unknown_filter")
                continue
            stmt = stmt.where(self.fields[name] >= since)
        errors.raise_if_any()
        return stmt

    def sort_column(self, params: ListParams) -> tuple[Any, bool, str]:
        desc = params.sort.startswith("-")
        name = params.sort.lstrip("-")
        if name != "id" and name not in self.sortable and not name.startswith("cf."):
            raise ValidationFailed.on("sort", "Cannot sort by this field", "invalid_sort")
        column = self.model.id if name == "id" else self.column(name)
        return column, desc, name

    def paginate(self, stmt: Select, params: ListParams) -> tuple[Select, Any, bool, str]:
        column, desc, name = self.sort_column(params)
        id_col = self.model.id
        nullable = getattr(getattr(column, "expression", column), "nullable", True) is not False
        if params.cursor:
            try:
                last_value, last_id = decode_cursor(params.cursor)
            except ValueError:
                raise ValidationFailed.on("cursor", "Invalid cursor", "invalid_cursor")
            if name == "id":
                stmt = stmt.where(id_col < last_id if desc else id_col > last_id)
            elif last_value is None:
                stmt = stmt.where(column.is_(None), id_col < last_id if desc else id_col > last_id)
            else:
                if isinstance(column.type, UTCDateTime):
                    last_value = datetime.fromisoformat(last_value)
                elif isinstance(column.type, Date):
                    last_value = date.fromisoformat(last_value)
                elif isinstance(column.type, Numeric):
                    last_value = Decimal(last_value)
                after = column < last_value if desc else column > last_value
                tie = and_(column == last_value, id_col < last_id if desc else id_col > last_id)
                stmt = stmt.where(or_(after, tie, column.is_(None)) if nullable else or_(after, tie))
        if name == "id":
            order = [id_col.desc() if desc else id_col.asc()]
        else:
            # NULLS LAST only where NULLs can exist: on a NOT NULL column it would stop the
            # (column, id) index from answering a page in a few reads.
            ordered = column.desc() if desc else column.asc()
            order = [ordered.nulls_last() if nullable else ordered, id_col.desc() if desc else id_col.asc()]
        return stmt.order_by(*order).limit(params.limit + 1), column, desc, name


def encode_cursor(value: Any, record_id: int) -> str:
    if isinstance(value, datetime | date):
        value = value.isoformat()
    elif isinstance(value, Decimal):
        value = str(value)
    raw = json.dumps([value, record_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[Any, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value, record_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return value, int(record_id)
    except Exception as exc:  # any malformed cursor is the client's mistake
        raise ValueError("bad cursor") from exc


def page(
    db: Any, listing: Listing, stmt: Select, params: ListParams, sort_value: Any = None
) -> tuple[list[Any], str | None]:
    """Run a paginated statement of ORM entities; returns (records, next_cursor)."""
    return _page(lambda paginated: list(db.scalars(paginated).unique()), listing, stmt, params)


def page_rows(db: Any, listing: Listing, stmt: Select, params: ListParams) -> tuple[list[Any], str | None]:
    """`page` for a statement of table columns: plain rows, no ORM object is built (an API list
    page serialises them at once). The columns the sort needs must be among those selected."""
    return _page(lambda paginated: db.execute(paginated).all(), listing, stmt, params)


def fields_of(record: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """The `names` fields of an ORM record, or of a row of those columns, as a dict."""
    if isinstance(record, Row):
        return record._asdict()
    return {name: getattr(record, name) for name in names}


def _page(
    fetch: Callable[[Select], list[Any]], listing: Listing, stmt: Select, params: ListParams
) -> tuple[list[Any], str | None]:
    stmt = listing.apply_filters(stmt, params)
    stmt, column, _desc, name = listing.paginate(stmt, params)
    rows = fetch(stmt)
    next_cursor = None
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        last = rows[-1]
        if name == "id":
            value = last.id
        elif name.startswith("cf."):
            value = (last.custom_fields or {}).get(name[3:])
        else:
            value = _value_of(last, listing, name)
        next_cursor = encode_cursor(value, last.id)
    return rows, next_cursor


def _value_of(row: Any, listing: Listing, name: str) -> Any:
    column = listing.fields[name]
    if isinstance(column, InstrumentedAttribute):
        return getattr(row, column.key)
    return getattr(row, name, None)
