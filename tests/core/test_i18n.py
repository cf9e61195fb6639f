"""Every UI string in the templates has a French translation (French is the default)."""

from __future__ import annotations

import re
from pathlib import Path

from carnet.core import i18n

SRC = Path(__file__).resolve().parents[2] / "src" / "carnet"
PATTERN = re.compile(r"""_\(\s*(?:"([^"]+)"|'([^']+)')""")


def test_templates_are_translated():
    catalogue = i18n.catalogue("fr")
    missing = set()
    for path in SRC.glob("**/templates/**/*.html"):
        for match in PATTERN.finditer(path.read_text(encoding="utf-8")):
            text = match.group(1) or match.group(2)
            if text not in catalogue and text != "Carnet":
                missing.add(f"{path.relative_to(SRC)}: {text}")
    assert not missing, "untranslated strings:\n" + "\n".join(sorted(missing))


def test_formatting_follows_the_language():
    from datetime import date
    from decimal import Decimal

    assert i18n.format_money(Decimal("1234.5"), "fr") == "1\u202f234,50\u00a0€"
    assert i18n.format_money(Decimal("1234.5"), "en") == "€1,234.50"
    assert i18n.format_date(date(2026, 3, 5), "fr") == "5 mars 2026"
    assert i18n.gettext("Save", "fr") == "Enregistrer"
    assert i18n.gettext("Save", "en") == "Save"


def test_catalogues_agree():
    """The same English string must not get two different French translations in two packages."""
    import json

    seen: dict[str, tuple[str, str]] = {}
    clashes = []
    for path in sorted(SRC.glob("**/locales/fr.json")):
        for key, value in json.loads(path.read_text(encoding="utf-8")).items():
            if key in seen and seen[key][1] != value:
                clashes.append(
                    f"{key!r}: {seen[key][0]}={seen[key][1]!r} vs {path.parent.parent.name}={value!r}"
                )
            seen.setdefault(key, (path.parent.parent.name, value))
    assert not clashes, "\n".join(clashes)
