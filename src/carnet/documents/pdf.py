"""PDF documents with WeasyPrint, from HTML templates that extend `documents/pdf_base.html`.

The base layout puts the logo and brand colour on every document, the document number and the
page number on every page (france.md §1.2: a multi-page invoice shows its number on each page),
repeats the table header on each page and keeps the totals block in one piece with the last lines.
"""

from __future__ import annotations

import base64
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from carnet.documents import mentions

PACKAGE = Path(__file__).resolve().parent.parent


def _quantity(value: Decimal | None) -> str:
    if value is None:
        return ""
    text = f"{Decimal(value).normalize():f}"
    if "." in text:
        whole, frac = text.split(".")
    else:
        whole, frac = text, ""
    grouped = f"{int(whole.lstrip('-') or 0):,}".replace(",", "\u202f")
    sign = "-" if whole.startswith("-") else ""
    return sign + grouped + ("," + frac if frac else "")


def _environment() -> Environment:
    dirs = [str(p) for p in sorted(PACKAGE.glob("*/templates"))]
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(d) for d in dirs]),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = mentions.fr_money
    env.filters["date"] = mentions.fr_date
    env.filters["percent"] = mentions.fr_percent
    env.filters["quantity"] = _quantity
    return env


_env: Environment | None = None


def environment() -> Environment:
    global _env
    if _env is None:
        _env = _environment()
    return _env


def base_context(company: Any, totals: Any | None = None) -> dict[str, Any]:
    """What the base layout and the lines table need besides the document itself: the company,
    its colour and logo (inlined), and the section titles and subtotals by position."""
    logo_url = None
    if getattr(company, "logo_content_type", None) and company.logo:
        logo_url = f"data:{company.logo_content_type};base64,{base64.b64encode(company.logo).decode()}"
    context: dict[str, Any] = {
        "company": company,
        "brand_color": company.brand_color or "#3b4fd8",
        "logo_url": logo_url,
    }
    if totals is not None:
        context["totals"] = totals
        context["section_titles"] = {s.position: s.title for s in totals.sections}
        context["section_totals"] = {s.position: s.subtotal for s in totals.sections}
    return context


def render_html(template: str, context: dict[str, Any]) -> str:
    return environment().get_template(template).render(**context)


def render_pdf(template: str, context: dict[str, Any], variant: str | None = None) -> bytes:
    """The PDF of `template` rendered with `context` (a `company`, the brand colour and the logo
    come from it in the base layout). `variant` is a WeasyPrint PDF variant, e.g. "pdf/a-3b" for
    invoices: the sRGB output intent, PDF/A identification and embedded fonts PDF/A asks for."""
    from weasyprint import HTML  # imported late: loading Pango takes a moment

    html = render_html(template, context)
    return HTML(string=html, base_url=str(PACKAGE)).write_pdf(pdf_variant=variant)
