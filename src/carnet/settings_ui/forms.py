"""Reading the settings forms: ids, checkboxes and translated messages."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData

from carnet.core.context import Actor
from carnet.core.errors import DomainError
from carnet.core.i18n import gettext


def parse_id(value: Any) -> int | None:
    """An id from a form field: empty is None; anything that is not a number becomes 0, which no
    record has, so the service reports it as unknown next to the field."""
    text = str(value or "").strip()
    if not text:
        return None
    return int(text) if text.isdigit() and len(text) <= 10 else 0


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def checked(form: FormData, name: str) -> bool:
    return form.get(name) in ("1", "true", "on", "yes")


def values_of(form: FormData) -> dict[str, Any]:
    """The submitted values to put back in a form that failed validation (never passwords)."""
    return {k: v for k, v in form.items() if isinstance(v, str) and "password" not in k}


def t(actor: Actor, message: str, **params: Any) -> str:
    return gettext(message, actor.language, **params)


def error_message(actor: Actor, exc: DomainError) -> str:
    return gettext(exc.message, actor.language, **exc.params)
