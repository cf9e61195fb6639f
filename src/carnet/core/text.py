"""Text helpers shared by search, matching and filenames."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
# Apostrophes (straight and typographic) and underscores separate words, as in both full-text
# tokenisers; '@', '.' and '-' stay inside a token so emails and hyphenated names keep together.
_SEPARATORS = re.compile(r"[^\w@.\-]+|_", re.UNICODE)
_EDGE_PUNCTUATION = ".-@"
# A run of digits written with spaces, dots, dashes or brackets: "+33 6 12 34 56 78", "552 120 222".
_SPACED_NUMBER = re.compile(r"\+?\d[\d\s.\-()/]*\d")


def fold(value: str | None) -> str:
    """Lower case without accents: "Société Générale" -> "societe generale"."""
    if not value:
        return ""
    if value.isascii():  # nothing to decompose (most names, all emails): a search index folds many
        return _SPACES.sub(" ", value.lower()).strip()
    decomposed = unicodedata.normalize("NFKD", value)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    # lower case first: "Œuvre" folds to "oeuvre" as "œuvre" does
    return _SPACES.sub(" ", stripped.lower().replace("œ", "oe").replace("æ", "ae")).strip()


def _join_number(match: re.Match[str]) -> str:
    run = match.group(0)
    number = digits(run)
    if len(number) < 8 or not re.search(r"[\s.\-()/]", run):
        return run
    if number.startswith("00"):  # 0033 6 12 ... is the international form of +33 6 12 ...
        number = number[2:]
    return f" {number} "


def search_tokens(value: str) -> list[str]:
    """Words of a search query, folded, without punctuation.

    Phone numbers and identifiers typed with separators become one digit-only token, the form
    they are indexed under. Every token holds at least one letter or digit and only the
    characters [\\w@.-], so it can be quoted safely into an FTS5 or tsquery expression.
    """
    folded = _SPACED_NUMBER.sub(_join_number, fold(value))
    tokens = []
    for raw in _SEPARATORS.sub(" ", folded).split():
        token = raw.strip(_EDGE_PUNCTUATION)
        if any(c.isalnum() for c in token):
            tokens.append(token)
    return tokens


def digits(value: str | None) -> str:
    return re.sub(r"\D", "", value or "")
