"""French regions (INSEE codes, 2016 map) and their départements, to place an establishment by the
postal code of its address (the board and list filter by region)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, false, or_

REGIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "84": ("Auvergne-Rhône-Alpes", ("01", "03", "07", "15", "26", "38", "42", "43", "63", "69", "73", "74")),
    "27": ("Bourgogne-Franche-Comté", ("21", "25", "39", "58", "70", "71", "89", "90")),
    "53": ("Bretagne", ("22", "29", "35", "56")),
    "24": ("Centre-Val de Loire", ("18", "28", "36", "37", "41", "45")),
    "94": ("Corse", ("2A", "2B")),
    "44": ("Grand Est", ("08", "10", "51", "52", "54", "55", "57", "67", "68", "88")),
    "32": ("Hauts-de-France", ("02", "59", "60", "62", "80")),
    "11": ("Île-de-France", ("75", "77", "78", "91", "92", "93", "94", "95")),
    "28": ("Normandie", ("14", "27", "50", "61", "76")),
    "75": (
        "Nouvelle-Aquitaine",
        ("16", "17", "19", "23", "24", "33", "40", "47", "64", "79", "86", "87"),
    ),
    "76": (
        "Occitanie",
        ("09", "11", "12", "30", "31", "32", "34", "46", "48", "65", "66", "81", "82"),
    ),
    "52": ("Pays de la Loire", ("44", "49", "53", "72", "85")),
    "93": ("Provence-Alpes-Côte d'Azur", ("04", "05", "06", "13", "83", "84")),
    "01": ("Guadeloupe", ("971",)),
    "02": ("Martinique", ("972",)),
    "03": ("Guyane", ("973",)),
    "04": ("La Réunion", ("974",)),
    "06": ("Mayotte", ("976",)),
}
_REGION_OF_DEPARTEMENT = {dept: code for code, (_name, depts) in REGIONS.items() for dept in depts}


def departement_of(postal_code: str | None) -> str | None:
    """ "75008" → "75", "20000" → "2A", "97400" → "974"; None for anything else."""
    text = (postal_code or "").strip()
    if len(text) != 5 or not text.isdigit():
        return None
    if text.startswith("20"):
        return "2A" if int(text) < 20200 else "2B"
    if text.startswith(("97", "98")):
        return text[:3]
    return text[:2]


def region_of(postal_code: str | None) -> str | None:
    """The INSEE region code of a French postal code, or None."""
    dept = departement_of(postal_code)
    return _REGION_OF_DEPARTEMENT.get(dept) if dept else None


def postal_code_clause(column: Any, region: str) -> ColumnElement[bool]:
    """WHERE clause: the postal code in `column` lies in `region` (unknown region: nothing)."""
    entry = REGIONS.get(region)
    if entry is None:
        return false()
    # Corsica's two départements share the postal prefix 20.
    prefixes = sorted({"20" if d in ("2A", "2B") else d for d in entry[1]})
    return or_(*[column.startswith(p, autoescape=True) for p in prefixes])
