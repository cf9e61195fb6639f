"""Exports of any filtered list to CSV (French Excel flavour) or XLSX.

A domain registers an `Exporter` built from its own list function, so an export takes exactly
the list's filters, sorting and visibility; rows are fetched by keyset pages of 1,000 (the list's
cursor, never OFFSET) and written as they come. Columns are the API fields, custom fields
expanded into `cf.<key>` columns and list values (tags, emails, phones) joined with ", ".

CSV: UTF-8 with a byte order mark and `;` between cells, as French Excel expects. A text cell
that a spreadsheet would run as a formula (starting with =, @, or +/- not followed by a number)
is prefixed with an apostrophe. XLSX cells holding text are always typed as text.

Every export needs `<module>:export` and is audited (action "export": record type, filters, row
count, format), once the last row has been produced.

A record type plugs in from its `transfer.py` (next to its importer, see `core.importing`) and
mounts the route in its `api.py`, before its `/{id}` route:

    # carnet/contacts/transfer.py
    EXPORTER = exporting.register(exporting.Exporter(
        record_type="contact", module="contacts",
        list_page=service.list_contacts,      # (db, actor, ListParams) -> (records, next_cursor)
        reads=service.reads,                  # (db, records) -> API dicts
        columns=tuple(ContactRead.model_fields),
        default_sort="last_name",
    ))

    # carnet/contacts/api.py
    add_export_route(router, transfer.EXPORTER)   # GET /api/v1/contacts/export
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy.orm import Session

from carnet.core import audit, clock, customfields
from carnet.core.context import Actor
from carnet.core.db import get_database
from carnet.core.errors import PermissionDenied, ValidationFailed
from carnet.core.listing import ListParams, parse_params

BATCH = 1000
FORMATS = ("csv", "xlsx")
_SAFE_SIGNED_NUMBER = re.compile(r"^[+-][\d\s().,+\-/]*$")


@dataclass(frozen=True)
class Exporter:
    record_type: str
    module: str  # permission module: "organisations"
    list_page: Callable[[Session, Actor, ListParams], tuple[list[Any], str | None]]
    reads: Callable[[Session, list[Any]], list[dict[str, Any]]]  # records -> API dicts
    columns: tuple[str, ...]  # API field names in order; "custom_fields" expands to cf.<key>
    default_sort: str = "-id"


REGISTRY: dict[str, Exporter] = {}


def register(exporter: Exporter) -> Exporter:
    REGISTRY[exporter.record_type] = exporter
    return exporter


def find(name: str) -> Exporter | None:
    """By record type ("organisation") or permission module ("organisations")."""
    if name in REGISTRY:
        return REGISTRY[name]
    return next((e for e in REGISTRY.values() if e.module == name), None)


@dataclass
class Export:
    """A prepared export: permission checked, filters validated, first page fetched."""

    exporter: Exporter
    actor: Actor
    params: ListParams
    filters: dict[str, str]
    format: str
    columns: list[str]
    custom_keys: list[str]
    first_page: list[dict[str, Any]]
    cursor: str | None
    rows: int = 0
    complete: bool = False  # False in the audit entry when the download was interrupted
    bom_sent: bool = False
    audited: bool = False

    @property
    def filename(self) -> str:
        return f"{self.exporter.module}-{clock.now().date().isoformat()}.{self.format}"


def prepare(db: Session, actor: Actor, exporter: Exporter, raw: dict[str, str]) -> Export:
    """Check the permission and the filters (errors surface before anything is streamed)."""
    if not actor.can(f"{exporter.module}:export"):
        raise PermissionDenied()
    raw = {k: v for k, v in raw.items() if v != ""}
    fmt = raw.pop("format", "csv")
    if fmt not in FORMATS:
        raise ValidationFailed.on("format", "Choose one of: {values}", "invalid_choice", values="csv, xlsx")
    for key in ("cursor", "limit"):
        raw.pop(key, None)
    params = parse_params(raw, default_sort=exporter.default_sort)
    params.limit = BATCH
    records, cursor = exporter.list_page(db, actor, params)
    keys = [d.key for d in customfields.definitions(db, exporter.record_type)]
    columns: list[str] = []
    for name in exporter.columns:
        columns += [f"cf.{k}" for k in keys] if name == "custom_fields" else [name]
    return Export(exporter, actor, params, raw, fmt, columns, keys, exporter.reads(db, records), cursor)


def _records(export: Export) -> Iterator[dict[str, Any]]:
    """Every matching record as an API dict, page after page on a session of its own (the
    request's session is gone once a streamed response starts)."""
    yield from export.first_page
    cursor = export.cursor
    if cursor is None:
        return
    with get_database().session(write=False) as db:
        while cursor is not None:
            export.params.cursor = cursor
            records, cursor = export.exporter.list_page(db, export.actor, export.params)
            yield from export.exporter.reads(db, records)
            db.expunge_all()


def _values(export: Export, item: dict[str, Any]) -> list[Any]:
    custom = item.get("custom_fields") or {}
    return [custom.get(c[3:]) if c.startswith("cf.") else item.get(c) for c in export.columns]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _csv_safe(text: str) -> str:
    if text[:1] in ("=", "@", "\t", "\r") or (text[:1] in ("+", "-") and not _SAFE_SIGNED_NUMBER.match(text)):
        return "'" + text
    return text


def csv_chunks(export: Export) -> Iterator[bytes]:
    """The CSV file, one chunk per page of rows; audited when the last row is out."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(export.columns)
    pending = 0
    try:
        for item in _records(export):
            writer.writerow([_csv_safe(_text(v)) for v in _values(export, item)])
            export.rows += 1
            pending += 1
            if pending >= BATCH:
                yield _drain(buffer, export)
                pending = 0
        export.complete = True
        yield _drain(buffer, export)
    finally:
        _audit(export)


def _drain(buffer: io.StringIO, export: Export) -> bytes:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    prefix = "" if export.bom_sent else "\ufeff"
    export.bom_sent = True
    return (prefix + text).encode("utf-8")


def write_xlsx(export: Export, out: IO[bytes]) -> None:
    """The XLSX workbook (write-only mode, so memory stays flat); audited once written."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(export.exporter.module[:31])

    def cell(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, bool | int | float):
            c = WriteOnlyCell(sheet, value=value)
        else:
            c = WriteOnlyCell(sheet, value=_text(value))
            c.data_type = "s"  # text stays text: never run as a formula
        return c

    try:
        sheet.append([cell(c) for c in export.columns])
        for item in _records(export):
            sheet.append([cell(v) for v in _values(export, item)])
            export.rows += 1
        workbook.save(out)
        export.complete = True
    finally:
        _audit(export)


def xlsx_chunks(export: Export) -> Iterator[bytes]:
    """The workbook, written to a temporary file (in memory up to 16 MB) when the response starts,
    then sent in chunks."""
    with tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024) as out:
        write_xlsx(export, out)
        out.seek(0)
        while chunk := out.read(64 * 1024):
            yield chunk


def _audit(export: Export) -> None:
    if export.audited:
        return
    export.audited = True
    with get_database().begin() as db:
        audit.record(
            db,
            export.actor,
            "export",
            export.exporter.record_type,
            None,
            {
                "format": export.format,
                "filters": export.filters,
                "rows": export.rows,
                "complete": export.complete,
            },
            f"{export.rows} {export.exporter.module} ({export.format})",
        )
