"""Translations and locale-aware formatting.

Source strings are English. Each package may ship `locales/<lang>.json` ({english: translation});
all catalogues under the `carnet` package are merged at start-up. Dates, numbers and money are
formatted with Babel for the user's locale and time zone.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import dates as babel_dates
from babel import numbers as babel_numbers

LANGUAGES = ("fr", "en")
LOCALES = {"fr": "fr_FR", "en": "en_GB"}
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


@lru_cache
def catalogue(language: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in sorted(_PACKAGE_ROOT.glob(f"**/locales/{language}.json")):
        merged.update(json.loads(path.read_text(encoding="utf-8")))
    return merged


def gettext(text: str, language: str = "fr", /, **params: Any) -> str:
    translated = catalogue(language).get(text, text) if language != "en" else text
    if params:
        try:
            return translated.format(**params)
        except (KeyError, IndexError, ValueError):
            return text.format(**params)
    return translated


def negotiate(accept_language: str | None, default: str = "fr") -> str:
    """Pick fr or en from an Accept-Language header."""
    if not accept_language:
        return default
    for part in accept_language.split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return default


def format_date(value: date | datetime | None, language: str = "fr", tz: str = "Europe/Paris") -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(ZoneInfo(tz)).date()
    return babel_dates.format_date(value, format="medium", locale=LOCALES[language])


def format_datetime(value: datetime | None, language: str = "fr", tz: str = "Europe/Paris") -> str:
    if value is None:
        return ""
    local = value.astimezone(ZoneInfo(tz))
    return babel_dates.format_datetime(local, format="short", locale=LOCALES[language])


def format_money(value: Decimal | float | int | None, language: str = "fr", currency: str = "EUR") -> str:
    if value is None:
        return ""
    return babel_numbers.format_currency(Decimal(value), currency, locale=LOCALES[language])


def format_number(value: Decimal | float | int | None, language: str = "fr") -> str:
    if value is None:
        return ""
    return babel_numbers.format_decimal(value, locale=LOCALES[language])


def format_percent(value: Decimal | float | int | None, language: str = "fr") -> str:
    if value is None:
        return ""
    return babel_numbers.format_percent(Decimal(value) / 100, locale=LOCALES[language])
