"""The definition of a project template version: validation and normalisation.

A definition is `{"phases": [...]}`; each phase has a key, a name, a description, task templates,
a checklist, expected documents and required fields (the format is documented in
/work/briefs/definition.md and in `parse_definition`). `parse_definition` is the only way a
definition gets stored: it returns a normalised copy (strings stripped, defaults filled in, unknown
keys dropped) or raises ValidationFailed with one error per offending value, each named by its path
(`phases[2].tasks[0].due_days`) so the editor can show it next to the input.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from carnet.core.customfields import KEY_RE as CUSTOM_FIELD_KEY_RE
from carnet.core.errors import FieldErrors
from carnet.projects.models import CONTACT_ROLES
from carnet.tasks.models import PRIORITIES

MAX_PHASES = 30
MAX_TASKS = 100  # per phase
MAX_ITEMS = 100  # checklist items, documents or required fields per phase
MAX_DUE_DAYS = 3650
KEY_RE = re.compile(r"^[a-z0-9_]{1,60}$")
NAME_MAX = 120
TITLE_MAX = 200
ITEM_MAX = 200
ROLE_MAX = 60  # ProjectMember.role
DESCRIPTION_MAX = 5000
DEFAULT_PRIORITY = "normal"
ASSIGNEE_TYPES = ("owner", "user", "member_role")

# Required-field kinds: whether the kind takes a parameter after a colon ("contact_role:pharmacist").
# target_date / description / notes: that project attribute is filled in; custom:<key>: that project
# custom field is filled in; contact_role:<role>: a key contact with that role is linked;
# member_role:<role>: a team member holds that role; deal: a deal is linked; deal_won: a linked deal
# is won; document:<name>: a file was filed for the expected document <name> of the same phase.
REQUIRED_FIELD_KINDS: dict[str, bool] = {
    "target_date": False,
    "description": False,
    "notes": False,
    "deal": False,
    "deal_won": False,
    "custom": True,
    "contact_role": True,
    "member_role": True,
    "document": True,
}


def split_required_field(value: str) -> tuple[str, str | None]:
    """("contact_role", "pharmacist") for "contact_role:pharmacist"; ("deal", None) for "deal"."""
    kind, sep, param = value.partition(":")
    return kind, (param if sep else None)


def slugify(text: str) -> str:
    """A phase key from its name: "Essai / Évaluation" → "essai_evaluation"."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "_", plain).strip("_")[:60] or "phase"


def parse_definition(data: Any) -> dict[str, Any]:
    """The validated, normalised definition; raises ValidationFailed listing every problem."""
    errors = FieldErrors()
    if not isinstance(data, dict):
        errors.add("phases", "Add at least one phase", "required")
        errors.raise_if_any()
    phases_in = data.get("phases")
    if not isinstance(phases_in, list) or not phases_in:
        errors.add("phases", "Add at least one phase", "required")
        errors.raise_if_any()
    if len(phases_in) > MAX_PHASES:
        errors.add("phases", "At most {max} phases", "too_many", max=MAX_PHASES)
        errors.raise_if_any()
    phases = [_phase(raw, f"phases[{i}]", errors) for i, raw in enumerate(phases_in)]
    _unique_names(phases, errors)
    _assign_keys(phases, errors)
    errors.raise_if_any()
    return {"phases": phases}


def _phase(raw: Any, path: str, errors: FieldErrors) -> dict[str, Any]:
    if not isinstance(raw, dict):
        errors.add(path, "Must be an object", "invalid_type")
        return {"key": "", "name": "", "tasks": [], "checklist": [], "documents": [], "required_fields": []}
    documents = _items(raw.get("documents"), f"{path}.documents", errors)
    tasks_in = raw.get("tasks")
    tasks: list[dict[str, Any]] = []
    if tasks_in is not None and not isinstance(tasks_in, list):
        errors.add(f"{path}.tasks", "Must be a list", "invalid_type")
    elif tasks_in:
        if len(tasks_in) > MAX_TASKS:
            errors.add(f"{path}.tasks", "At most {max} items", "too_many", max=MAX_TASKS)
        tasks = [_task(t, f"{path}.tasks[{i}]", errors) for i, t in enumerate(tasks_in[:MAX_TASKS])]
    key = raw.get("key")
    if key is not None and not isinstance(key, str):
        errors.add(f"{path}.key", "Use lowercase letters, digits and underscores", "invalid")
        key = None
    return {
        "key": (key or "").strip(),
        "name": _text(raw.get("name"), f"{path}.name", NAME_MAX, errors, required=True) or "",
        "description": _text(raw.get("description"), f"{path}.description", DESCRIPTION_MAX, errors),
        "tasks": tasks,
        "checklist": _items(raw.get("checklist"), f"{path}.checklist", errors),
        "documents": documents,
        "required_fields": _required_fields(raw.get("required_fields"), documents, path, errors),
    }


def _task(raw: Any, path: str, errors: FieldErrors) -> dict[str, Any]:
    if not isinstance(raw, dict):
        errors.add(path, "Must be an object", "invalid_type")
        return {}
    priority = raw.get("priority")
    if priority in (None, ""):
        priority = DEFAULT_PRIORITY
    elif priority not in PRIORITIES:
        errors.add(
            f"{path}.priority", "Choose one of: {values}", "invalid_choice", values=", ".join(PRIORITIES)
        )
    return {
        "title": _text(raw.get("title"), f"{path}.title", TITLE_MAX, errors, required=True) or "",
        "description": _text(raw.get("description"), f"{path}.description", DESCRIPTION_MAX, errors),
        "due_days": _due_days(raw.get("due_days"), f"{path}.due_days", errors),
        "priority": priority,
        "assignee": _assignee(raw.get("assignee"), f"{path}.assignee", errors),
    }


def _due_days(value: Any, path: str, errors: FieldErrors) -> int:
    if value is None or value == "":
        return 0  # due the day the phase starts
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(path, "Enter a whole number of days", "invalid_type")
        return 0
    if not 0 <= value <= MAX_DUE_DAYS:
        errors.add(path, "Must be between {min} and {max}", "out_of_range", min=0, max=MAX_DUE_DAYS)
    return value


def _assignee(raw: Any, path: str, errors: FieldErrors) -> dict[str, Any]:
    if raw is None:
        return {"type": "owner"}
    if not isinstance(raw, dict):
        errors.add(path, "Must be an object", "invalid_type")
        return {"type": "owner"}
    kind = raw.get("type") or "owner"
    if kind == "owner":
        return {"type": "owner"}
    if kind == "user":
        user_id = raw.get("user_id")
        if isinstance(user_id, str) and user_id.strip().isdigit():
            user_id = int(user_id.strip())
        if isinstance(user_id, bool) or not isinstance(user_id, int) or not 0 < user_id < 2**31:
            errors.add(f"{path}.user_id", "Choose a user", "required")
            return {"type": "user", "user_id": None}
        return {"type": "user", "user_id": user_id}
    if kind == "member_role":
        role = _text(raw.get("role"), f"{path}.role", ROLE_MAX, errors, required=True)
        return {"type": "member_role", "role": role or ""}
    errors.add(f"{path}.type", "Choose one of: {values}", "invalid_choice", values=", ".join(ASSIGNEE_TYPES))
    return {"type": "owner"}


def _text(value: Any, path: str, max_len: int, errors: FieldErrors, required: bool = False) -> str | None:
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.add(path, "Enter text", "invalid_type")
        return None
    value = value.strip()
    if required and not value:
        errors.add(path, "This field is required", "required")
    elif len(value) > max_len:
        errors.add(path, "At most {max} characters", "too_long", max=max_len)
    return value or None


def _items(raw: Any, path: str, errors: FieldErrors) -> list[str]:
    """A list of distinct, non-empty strings of at most ITEM_MAX characters."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        errors.add(path, "Must be a list", "invalid_type")
        return []
    if len(raw) > MAX_ITEMS:
        errors.add(path, "At most {max} items", "too_many", max=MAX_ITEMS)
        return []
    out: list[str] = []
    seen: set[str] = set()
    for i, value in enumerate(raw):
        text = _text(value, f"{path}[{i}]", ITEM_MAX, errors, required=True)
        if text is None:
            continue
        if text.casefold() in seen:
            errors.add(f"{path}[{i}]", "Listed twice: {value}", "duplicate", value=text)
            continue
        seen.add(text.casefold())
        out.append(text)
    return out


def _required_fields(raw: Any, documents: list[str], phase_path: str, errors: FieldErrors) -> list[str]:
    path = f"{phase_path}.required_fields"
    values = _items(raw, path, errors)
    if not isinstance(raw, list):
        return values
    out: list[str] = []
    for value in values:
        i = next(n for n, v in enumerate(raw) if isinstance(v, str) and v.strip() == value)
        kind, param = split_required_field(value)
        kind, param = kind.strip(), (param.strip() if param is not None else None)
        item_path = f"{path}[{i}]"
        if kind not in REQUIRED_FIELD_KINDS:
            errors.add(item_path, "Unknown required field: {value}", "invalid_choice", value=value)
            continue
        if not REQUIRED_FIELD_KINDS[kind]:
            if param is not None:
                errors.add(item_path, "Unknown required field: {value}", "invalid_choice", value=value)
                continue
            out.append(kind)
            continue
        if not param:
            errors.add(item_path, "Say which one after the colon", "required")
            continue
        if kind == "contact_role" and param not in CONTACT_ROLES:
            errors.add(
                item_path, "Choose one of: {values}", "invalid_choice", values=", ".join(CONTACT_ROLES)
            )
            continue
        if kind == "custom" and not CUSTOM_FIELD_KEY_RE.match(param):
            errors.add(item_path, "Not a custom field key: {value}", "invalid", value=param)
            continue
        if kind == "member_role" and len(param) > ROLE_MAX:
            errors.add(item_path, "At most {max} characters", "too_long", max=ROLE_MAX)
            continue
        if kind == "document" and param.casefold() not in {d.casefold() for d in documents}:
            errors.add(item_path, "Not an expected document of this phase: {name}", "unknown", name=param)
            continue
        out.append(f"{kind}:{param}")
    return out


def _unique_names(phases: list[dict[str, Any]], errors: FieldErrors) -> None:
    seen: set[str] = set()
    for i, phase in enumerate(phases):
        name = phase["name"].casefold()
        if not name:
            continue
        if name in seen:
            errors.add(f"phases[{i}].name", "Another phase already has this name", "duplicate")
        seen.add(name)


def _assign_keys(phases: list[dict[str, Any]], errors: FieldErrors) -> None:
    """Check the given keys, then derive the missing ones from the names (never clashing)."""
    given: set[str] = set()
    for i, phase in enumerate(phases):
        key = phase["key"]
        if not key:
            continue
        if not KEY_RE.match(key):
            errors.add(f"phases[{i}].key", "Use lowercase letters, digits and underscores", "invalid")
        elif key in given:
            errors.add(f"phases[{i}].key", "Another phase already has this key", "duplicate")
        given.add(key)
    for phase in phases:
        if phase["key"]:
            continue
        base = slugify(phase["name"])[:56]
        key, n = base, 2
        while key in given:
            key, n = f"{base}_{n}", n + 1
        phase["key"] = key
        given.add(key)
