"""Countries: ISO 3166-1 alpha-2 codes, their names, and the groups the French rules care about.

- `SIREN_COUNTRIES`: France and the overseas departments and collectivities whose businesses are
  in INSEE's Sirene register. Their organisations have a SIREN and are invoiced as French clients
  (france.md §1.5: the client's SIREN is a mention for business customers); everywhere else a
  client is foreign and "identified by their VAT or foreign ID" (same section).
- `EU_MEMBER_STATES`: the 27 member states, for intra-EU supplies (art. 262 ter I du CGI).

The code list is Babel's (CLDR) territories, less the codes that are not ISO 3166-1 countries
(continents, the EU, pseudo-locales, Kosovo's user-assigned XK): exactly the ISO list the EN 16931
code lists accept for a country (BT-40, BT-55, BT-80).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from babel import Locale

from carnet.core.errors import FieldErrors

DEFAULT = "FR"
SIREN_COUNTRIES = frozenset({"FR", "GP", "MQ", "GF", "RE", "YT", "PM", "BL", "MF"})
EU_MEMBER_STATES = frozenset(
    {
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
    }
)
# CLDR territories that are not ISO 3166-1 alpha-2 countries.
_NOT_COUNTRIES = frozenset(
    {"AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "IC", "QO", "TA", "UN", "XA", "XB", "XK", "ZZ"}
)


@lru_cache
def codes() -> frozenset[str]:
    return frozenset(
        code
        for code in Locale("en").territories
        if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES
    )


def name(code: str | None, language: str = "fr") -> str:
    """The country's name in `language` ("BE" -> "Belgique"); the code itself when unknown."""
    if not code:
        return ""
    return Locale(language).territories.get(code, code) if code in codes() else code


@lru_cache
def choices(language: str = "fr") -> list[tuple[str, str]]:
    """(code, name) of every country, sorted by name in `language`, for a select."""
    names = Locale(language).territories
    return sorted(((c, names.get(c, c)) for c in codes()), key=lambda pair: pair[1].casefold())


def clean_country(value: Any, errors: FieldErrors, field: str = "country") -> str | None:
    """An ISO 3166-1 alpha-2 code ("be" -> "BE"); empty means France (the default)."""
    text = str(value or "").strip().upper() or DEFAULT
    if text not in codes():
        errors.add(field, "Enter a two-letter country code such as FR, BE or CH", "invalid_country")
        return None
    return text


def uses_siren(code: str | None) -> bool:
    """Organisations of this country are in Sirene: they have a SIREN, not a foreign identifier."""
    return (code or DEFAULT) in SIREN_COUNTRIES


def in_eu(code: str | None) -> bool:
    return (code or DEFAULT) in EU_MEMBER_STATES
