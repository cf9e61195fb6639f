"""Text helpers shared by search, matching and filenames."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
_NON_WORD = re.compile(r"[^\w@.+-]+", re.UNICODE)


def fold(value: str | None) -> str:
    """Lower case without accents: "Société Générale" -> "societe generale"."""
    if not value:
        return ""
    decomposed = unicodedata.normalize("NFKD", value)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SPACES.sub(" ", stripped.replace("œ", "oe").replace("æ", "ae").lower()).strip()


def search_tokens(value: str) -> list[str]:
    """Words of a search query, folded, without punctuation."""
    return [t for t in _NON_WORD.sub(" ", fold(value)).split() if t]


def digits(value: str | None) -> str:
    return re.sub(r"\D", "", value or "")
