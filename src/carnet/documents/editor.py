"""The lines editor shared by the quote and invoice pages: how its form posts lines, and the VAT
rates it offers. The templates are documents/_lines_editor.html, _line_row.html and _totals.html;
the behaviour (add, remove, drag, catalogue picker, live totals) is static/js/lines-editor.js."""

from __future__ import annotations

from typing import Any

from carnet.core.money import VAT_RATES
from carnet.documents import exemptions

LINE_FIELDS = (
    "kind",
    "product_id",
    "description",
    "reference",
    "quantity",
    "unit",
    "unit_price",
    "vat_rate",
    "vat_exemption_reason",
    "discount_percent",
    "discount_amount",
)


def lines_from_form(form: Any) -> list[dict[str, Any]]:
    """The editor posts one value per line for each field (`line_<field>`), in the order shown;
    empty rows left at the end are not lines."""
    columns = {name: form.getlist(f"line_{name}") for name in LINE_FIELDS}
    out = []
    for i in range(len(columns["description"])):
        row = {name: (values[i] if i < len(values) else "") for name, values in columns.items()}
        row = {k: (v.strip() if isinstance(v, str) else v) for k, v in row.items()}
        if row["kind"] == "section":
            out.append({"kind": "section", "description": row["description"]})
            continue
        if not any(row[k] for k in ("description", "unit_price", "product_id")):
            continue
        out.append({k: (v if v != "" else None) for k, v in row.items()})
    return out


def exemption_mentions() -> tuple[str, ...]:
    """The standard VAT exemption mentions offered for a 0 % line (documents/exemptions.py)."""
    return tuple(m for m in exemptions.STANDARD_MENTIONS if m)


def vat_rate_choices() -> list[tuple[str, str]]:
    """(value, French label) of each VAT rate: ("5.50", "5,5 %")."""
    return [(f"{r:.2f}", f"{r.normalize():f} %".replace(".", ",")) for r in VAT_RATES]
