"""What the project pages show besides the service's answers: English labels of the codes (the
templates translate them) and form value parsing; the display-name look-ups are in the service."""

from __future__ import annotations

from typing import Any

from carnet.core.errors import DomainError
from carnet.core.i18n import gettext
from carnet.projects import service

STATUS_BADGES = {"active": "open", "on_hold": "former", "completed": "won", "cancelled": "lost"}
PHASE_STATE_LABELS = {"closed": "Closed", "open": "In progress", "pending": "To come"}
MOVE_LABELS = {
    "opened": "Phase opened",
    "closed": "Phase closed",
    "reopened": "Phase reopened",
    "completed": "Project completed",
}


def labels_context() -> dict[str, Any]:
    return {
        "status_labels": service.STATUS_LABELS,
        "status_badges": STATUS_BADGES,
        "health_labels": service.HEALTH_LABELS,
        "phase_state_labels": PHASE_STATE_LABELS,
        "move_labels": MOVE_LABELS,
        "contact_role_labels": service.CONTACT_ROLE_LABELS,
    }


def as_int(value: Any) -> int | None:
    """A form or query value as a positive id, None when empty or not a number."""
    text = str(value or "").strip()
    return int(text) if text.isdigit() and 0 < int(text) < 2**31 else None


def required_text(item: service.RequiredItem, lang: str) -> str:
    """A required field's sentence in `lang`, its role name translated too."""
    params = {k: gettext(v, lang) if k == "role" else v for k, v in item.params.items()}
    return gettext(item.label, lang, **params)


def as_position(value: Any) -> int | None:
    """A phase position (0-based) from a form value, None when empty or not a number."""
    text = str(value or "").strip()
    return int(text) if text.isdigit() and int(text) < 1000 else None


def incomplete_items(exc: DomainError, lang: str) -> list[str]:
    """Every missing item of a refused phase close, translated (form_errors keeps one per field);
    the error's own message when it carries no field errors (a cancelled project...)."""
    if exc.errors:
        return [gettext(e.message, lang, **e.params) for e in exc.errors]
    return [gettext(exc.message, lang, **exc.params)]
