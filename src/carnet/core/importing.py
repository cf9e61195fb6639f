"""The registry of record types that can be imported from CSV/XLSX files, and the generic parts of
an import: header normalisation, mapping suggestions and turning one row of cells into the dict
a domain service takes.

A domain plugs in by registering an `Importer` (in its `transfer.py` module, found by the imports
package at start-up). The import machinery (upload, mapping, preview, background run in chunks,
report, undo) lives in `carnet.imports` and only ever talks to the record type through these
callables, which must go through the domain's service (validation, permissions, audit, events,
search index).

Imports are set-based: the machinery hands a whole chunk of rows (a thousand or so) to each
callable, which validates every row in Python and writes the valid ones with a few statements
per table (see `create_organisations` in the organisations service). A row that fails comes back
as its domain error, in its place in the list, and nothing of it is written.

Contract of the callables (`data` is what `build_data` produced; one result per item, in order):
  prepare(db, actor, [data]) -> [data | DomainError]     resolves references (an owner email to
                                                          an id, an organisation named by its
                                                          name or SIREN...); optional
  match_values(data, keys) -> {(key, value)}              the row's values for the chosen
                                                          duplicate keys: two rows of one chunk
                                                          sharing one are written one after the
                                                          other, so the second sees the first
  find_existing(db, actor, [data], keys) -> [record|None] a visible record matching one of `keys`,
                                                          for every row, in a few queries
  create_many(db, actor, [data]) -> [record | DomainError]
                                                          the service's set-based create; does
                                                          not commit
  update_many(db, actor, [(record, data)]) -> [Updated | DomainError]
                                                          the service's set-based update; empty
                                                          cells are never in `data`, so an import
                                                          never blanks a field; does not commit
  delete(db, actor, record)                               the service's delete (undo of a create)
  get(db, actor, record_id) -> record                     visible record or NotFound (undo)
  restore(db, actor, record, previous) -> record          puts back `Updated.previous` (undo)
Records must carry `id` and `version` (the undo only reverts records nobody changed since).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy.orm import Session

from carnet.core import customfields
from carnet.core.context import Actor
from carnet.core.errors import DomainError, FieldErrors
from carnet.core.text import fold

DUPLICATE_MODES = ("skip", "update", "create")


class CellError(ValueError):
    """A cell that cannot be read as its field's type; the message is an English source string."""

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message)
        self.message = message
        self.params = params


@dataclass(frozen=True)
class ImportField:
    key: str  # the service's data key ("name", "siren"), or "cf.<key>" for a custom field
    label: str  # English, translated in the UI
    required: bool = False
    aliases: tuple[str, ...] = ()  # column headers of other tools (any case, accents, punctuation)
    parse: Callable[[str], Any] | None = None  # cell text -> service value; raises CellError
    many: bool = False  # several columns may map here; their values are gathered into one list


@dataclass
class Updated:
    """What `update_many` did to one existing record."""

    record: Any
    changed: bool  # False: the row held nothing new ("Already up to date")
    previous: dict[str, Any]  # the values before, which `restore` accepts (the undo)


Prepared = dict[str, Any] | DomainError


@dataclass(frozen=True)
class Importer:
    record_type: str
    module: str  # permission module: "organisations"
    label: str  # English plural, translated in the UI
    fields: tuple[ImportField, ...]
    match_keys: tuple[str, ...]  # duplicate detection keys, strongest first
    find_existing: Callable[[Session, Actor, list[dict[str, Any]], tuple[str, ...]], list[Any]]
    create_many: Callable[[Session, Actor, list[dict[str, Any]]], list[Any]]
    delete: Callable[[Session, Actor, Any], None]
    get: Callable[[Session, Actor, int], Any]
    # Both None for a record type without duplicate keys (its imports only create).
    update_many: (
        Callable[[Session, Actor, list[tuple[Any, dict[str, Any]]]], list[Updated | DomainError]] | None
    ) = None
    restore: Callable[[Session, Actor, Any, dict[str, Any]], Any] | None = None
    prepare: Callable[[Session, Actor, list[dict[str, Any]]], list[Prepared]] | None = None
    match_values: Callable[[dict[str, Any], tuple[str, ...]], set[tuple[str, str]]] = lambda data, keys: set()
    match_labels: dict[str, str] = field(default_factory=dict)  # key -> English label

    def all_fields(self, db: Session) -> dict[str, ImportField]:
        """The importer's fields plus one `cf.<key>` field per custom field definition."""
        out = {f.key: f for f in self.fields}
        for d in customfields.definitions(db, self.record_type):
            key = f"cf.{d.key}"
            out[key] = ImportField(key, d.label, d.required, (d.label, d.key, key))
        return out


REGISTRY: dict[str, Importer] = {}


def register(importer: Importer) -> Importer:
    REGISTRY[importer.record_type] = importer
    return importer


def find(name: str) -> Importer | None:
    """By record type ("organisation") or permission module ("organisations")."""
    if name in REGISTRY:
        return REGISTRY[name]
    return next((i for i in REGISTRY.values() if i.module == name), None)


# -- mapping ---------------------------------------------------------------------------------------


def normalise_header(header: str) -> str:
    """ "Nom de l'entreprise" -> "nomdelentreprise": folded, letters and digits only."""
    return re.sub(r"[^0-9a-z]", "", fold(header.replace("\ufeff", "")))


def suggest_mapping(fields: dict[str, ImportField], headers: list[str]) -> dict[str, str | None]:
    """{header: field key or None}. A field that takes one value is suggested for one column."""
    index: dict[str, str] = {}
    for f in fields.values():
        for name in (f.key, f.label, *f.aliases):
            index.setdefault(normalise_header(name), f.key)
    taken: set[str] = set()
    out: dict[str, str | None] = {}
    for header in headers:
        key = index.get(normalise_header(header))
        if key is not None and (key not in taken or fields[key].many):
            out[header] = key
            taken.add(key)
        else:
            out[header] = None
    return out


def check_mapping(
    fields: dict[str, ImportField], headers: list[str], mapping: dict[str, str | None], errors: FieldErrors
) -> dict[str, str]:
    """The mapping without ignored columns; errors for unknown columns or fields, a single-value
    field mapped twice, or a required field left unmapped."""
    clean: dict[str, str] = {}
    used: dict[str, str] = {}
    for header, key in mapping.items():
        if not key:
            continue
        if header not in headers:
            errors.add(f"mapping.{header}", "This column is not in the file", "unknown_column")
            continue
        if key not in fields:
            errors.add(f"mapping.{header}", "Unknown field", "unknown_field")
            continue
        if key in used and not fields[key].many:
            errors.add(
                f"mapping.{header}",
                "Two columns are mapped to {field}",
                "mapped_twice",
                field=fields[key].label,
            )
            continue
        used[key] = header
        clean[header] = key
    for f in fields.values():
        if f.required and f.key not in used:
            errors.add("mapping", "Choose the column holding {field}", "required_field", field=f.label)
    return clean


# -- rows ------------------------------------------------------------------------------------------


def build_data(
    db: Session,
    record_type: str,
    fields: dict[str, ImportField],
    mapping: dict[str, str],
    cells: dict[str, str],
) -> tuple[dict[str, Any], FieldErrors]:
    """The service data for one row. Empty cells are left out (an update never blanks a field);
    custom field values go to `custom_fields` as text, validated by the service."""
    data: dict[str, Any] = {}
    errors = FieldErrors()
    definitions = {d.key: d for d in customfields.definitions(db, record_type)}
    for header, key in mapping.items():
        text = (cells.get(header) or "").strip()
        if not text:
            continue
        f = fields[key]
        if key.startswith("cf."):
            defn = definitions.get(key[3:])
            if defn is not None and defn.field_type == "date":
                text = french_date(text)
            data.setdefault("custom_fields", {})[key[3:]] = text
            continue
        try:
            value = f.parse(text) if f.parse else text
        except CellError as exc:
            errors.add(key, exc.message, "invalid", **exc.params)
            continue
        if f.many:
            values = value if isinstance(value, list) else [value]
            data.setdefault(key, [])
            data[key] += [v for v in values if v not in data[key]]
        else:
            data[key] = value
    return data, errors


# -- cell parsers shared by importers --------------------------------------------------------------


def split_list(text: str) -> list[str]:
    """ "a, b; c" -> ["a", "b", "c"]."""
    return [p.strip() for p in re.split(r"[,;\n]", text) if p.strip()]


def parse_int(text: str) -> int:
    """ "1 200", "1200", "1200.0" (spreadsheets) -> 1200."""
    compact = re.sub(r"[\s\u00a0\u202f]", "", text)
    try:
        number = Decimal(compact.replace(",", "."))
        if number != number.to_integral_value():
            raise InvalidOperation
        return int(number)
    except InvalidOperation:
        raise CellError("Enter a whole number")


def choice(options: dict[str, str]) -> Callable[[str], str]:
    """A parser accepting any of `options`' keys (compared folded) and returning its value."""
    index = {normalise_header(k): v for k, v in options.items()}

    def parse(text: str) -> str:
        value = index.get(normalise_header(text))
        if value is None:
            raise CellError("Unknown value “{value}”", value=text)
        return value

    return parse


def digits_padded(width: int) -> Callable[[str], str]:
    """Identifiers a spreadsheet stored as numbers lose their leading zeros: put them back."""

    def parse(text: str) -> str:
        compact = re.sub(r"[\s.\-\u00a0]", "", text)
        if compact.isdigit() and len(compact) < width:
            return compact.zfill(width)
        return text

    return parse


def french_date(text: str) -> str:
    """ "21/11/2026" -> "2026-11-21"; anything else is returned unchanged."""
    match = re.fullmatch(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})", text.strip())
    if not match:
        return text
    day, month, year = (int(g) for g in match.groups())
    try:
        return datetime(year, month, day).date().isoformat()
    except ValueError:
        return text


def parse_date(text: str) -> str:
    """ "21/11/2026", "2026-11-21", and either followed by a time (as HubSpot and Pipedrive export
    dates) -> "2026-11-21"; anything else is returned unchanged for the service to refuse."""
    return french_date(re.split(r"[ T]", text.strip(), maxsplit=1)[0])


_TRUE = {"yes", "oui", "true", "vrai", "1", "x"}
_FALSE = {"no", "non", "false", "faux", "0"}


def parse_bool(text: str) -> bool:
    """ "Oui", "yes", "x", "1" -> True; "Non", "no", "0" -> False."""
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise CellError("Unknown value “{value}”", value=text)
