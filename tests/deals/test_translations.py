"""Every string the deals pages and messages show has a French translation."""

from __future__ import annotations

import re
from pathlib import Path

from carnet.core.i18n import catalogue

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "carnet" / "deals"
PYTHON_PATTERNS = (
    r'errors\.add\(\s*[^,]+,\s*"([^"]+)"',
    r'found\.add\(\s*[^,]+,\s*"([^"]+)"',
    r'\.on\(\s*[^,]+,\s*"([^"]+)"',
    r'gettext\(\s*"([^"]+)"',
    r'_t\(actor,\s*"([^"]+)"',
    r'Conflict\(\s*"([^"]+)"',
)


def _strings() -> set[str]:
    found: set[str] = set()
    for path in (PACKAGE / "templates").rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        found |= set(re.findall(r'_\(\s*"([^"]+)"', text)) | set(re.findall(r"_\(\s*'([^']+)'", text))
    for path in PACKAGE.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        for pattern in PYTHON_PATTERNS:
            found |= set(re.findall(pattern, text, re.S))
    return found


def test_every_deals_string_is_translated():
    strings = _strings()
    assert len(strings) > 100
    missing = sorted(s for s in strings if s not in catalogue("fr"))
    assert missing == []
