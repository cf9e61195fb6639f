"""The registry of record types that can be imported from CSV/XLSX files, and the generic parts of
an import: header normalisation, mapping suggestions and turning one row of cells into the dict
a domain service takes.

A domain plugs in by registering an `Importer` (in its `transfer.py` module, found by the imports
package at start-up). The import machinery (upload, mapping, preview, background run in batches,
report, undo) lives in `carnet.imports` and only ever talks to the record type through these
callables, which must go through the domain's service (validation, permissions, audit, events,
search index). Adding a record type is about forty lines; contacts would look like this:

    # carnet/contacts/transfer.py
    from carnet.contacts import service
    from carnet.core import importing

    def _find(db, actor, data, keys):
        email = (data.get("emails") or [None])[0] if "email" in keys else None
        return service.find_by_email(db, actor, email) if email else None

    importing.register(importing.Importer(
        record_type="contact", module="contacts", label="Contacts",
        fields=(
            importing.ImportField("first_name", "First name", aliases=("First Name", "Prénom")),
            importing.ImportField("last_name", "Last name", required=True, aliases=("Last Name", "Nom")),
            importing.ImportField("emails", "Email", many=True, parse=importing.split_list,
                                  aliases=("Email", "E-mail", "Adresse e-mail", "Person - Email")),
            ...
        ),
        match_keys=("email",),
        find_existing=_find,
        create=service.create_contact,
        update=lambda db, actor, record, data: service.update_contact(db, actor, record, data),
        delete=lambda db, actor, record: service.delete_contact(db, actor, record),
        get=service.get_contact,
        snapshot=lambda db, record: {**service.snapshot(record), "tags": ...},
    ))

Contract of the callables (`data` is what `build_data` produced, already merged by `prepare`):
  find_existing(db, actor, data, keys) -> record | None   a visible record matching one of `keys`
  create(db, actor, data) -> record                       the service's create (commits)
  update(db, actor, record, data) -> record               the service's update (commits); empty
                                                          cells are never in `data`, so an import
                                                          never blanks a field
  delete(db, actor, record)                               the service's delete (undo of a create)
  get(db, actor, record_id) -> record                     visible record or NotFound (undo)
  snapshot(db, record) -> dict                            values `restore` (or `update`) accepts,
                                                          stored before an update for the undo
  restore(db, actor, record, previous) -> record          optional; defaults to update(previous)
  prepare(db, actor, data) -> data                        optional; resolves references (an owner
                                                          email to an id...), raises ValidationFailed
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
from carnet.core.errors import FieldErrors
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


@dataclass(frozen=True)
class Importer:
    record_type: str
    module: str  # permission module: "organisations"
    label: str  # English plural, translated in the UI
    fields: tuple[ImportField, ...]
    match_keys: tuple[str, ...]  # duplicate detection keys, strongest first
    find_existing: Callable[[Session, Actor, dict[str, Any], tuple[str, ...]], Any]
    create: Callable[[Session, Actor, dict[str, Any]], Any]
    update: Callable[[Session, Actor, Any, dict[str, Any]], Any]
    delete: Callable[[Session, Actor, Any], None]
    get: Callable[[Session, Actor, int], Any]
    snapshot: Callable[[Session, Any], dict[str, Any]]
    restore: Callable[[Session, Actor, Any, dict[str, Any]], Any] | None = None
    prepare: Callable[[Session, Actor, dict[str, Any]], dict[str, Any]] | None = None
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
