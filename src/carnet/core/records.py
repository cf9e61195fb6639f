"""The registry of record types that share cross-cutting features (custom fields, tags,
attachments, search, visibility, timeline). Domain packages register themselves; core never
imports them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RecordType:
    name: str  # "organisation"
    model: Any
    module: str  # permission module: "organisations"
    label: str  # English, translated in the UI
    url_prefix: str  # "/organisations"
    # (db, actor) -> WHERE clause, for a record type whose visibility is wider than the owner and
    # department rule (projects: their team members too); None: permissions.visible_for_model.
    visible: Callable[[Any, Any], Any] | None = None


REGISTRY: dict[str, RecordType] = {}


def register(
    name: str,
    model: Any,
    module: str,
    label: str,
    url_prefix: str,
    visible: Callable[[Any, Any], Any] | None = None,
) -> RecordType:
    record_type = RecordType(name, model, module, label, url_prefix, visible)
    REGISTRY[name] = record_type
    return record_type


def get(name: str) -> RecordType:
    return REGISTRY[name]


@dataclass(frozen=True)
class RecordActions:
    """Service functions generic features (bulk actions, imports) call for one record type."""

    get: Any  # (db, actor, id) -> record, NotFound when not visible
    update: Any  # (db, actor, record, data) -> record
    delete: Any  # (db, actor, record) -> None


ACTIONS: dict[str, RecordActions] = {}


def register_actions(name: str, get: Any, update: Any, delete: Any) -> None:
    ACTIONS[name] = RecordActions(get, update, delete)
