"""VAT exemptions: the words a 0 % line prints and the VAT category the e-invoice declares.

A line at 0 % carries its exemption mention as text (`vat_exemption_reason`, required by
documents/lines.py after france.md §1.2 item 15); a catalogue product stores the same text. The
EN 16931 VAT category (UNCL 5305, BT-151 / BT-118) and its exemption reason code (VATEX, BT-121)
are read from that mention, so the PDF and the Factur-X XML say the same thing from one field:

- "Autoliquidation": reverse charge, such as services to a business established abroad
  (art. 259-1 and 283-2 du CGI): category AE, code VATEX-EU-AE;
- "Exonération de TVA, article 262 ter I du CGI": intra-EU supply of goods: K, VATEX-EU-IC;
- "Exonération de TVA, article 262 I du CGI": export of goods outside the EU: G, VATEX-EU-G;
- any other wording ("TVA non applicable, art. 293 B du CGI", art. 261...): exempt, E, no code.

The mention is recognised by its legal words, whatever is written around them: "autoliquidation"
(or EN 16931's own "reverse charge") gives AE, "262 ter" gives K, "262 I" gives G. The E category
keeps carrying the words alone (BT-120), as before. The quote and invoice editors offer the
standard mentions above. france.md gives "Autoliquidation" and "art. 262 ter I" (§1.2 item 15);
it is silent on exports, so that mention cites the article that exempts them, CGI art. 262 I.

Which mention applies is the user's choice, not the client's country: the law leaves cases where
a foreign client owes French VAT (services tied to a building in France, goods that do not leave
France...). Issuing an invoice refuses only what cannot be right (invoices/buyers.py).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal

from carnet.core import money
from carnet.documents import lines as doc_lines

STANDARD, EXEMPT, REVERSE_CHARGE, INTRA_EU, EXPORT = "S", "E", "AE", "K", "G"
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Exemption:
    category: str  # UNCL 5305
    code: str | None  # VATEX (BT-121)
    mention: str | None  # the standard French wording


AUTOLIQUIDATION = Exemption(REVERSE_CHARGE, "VATEX-EU-AE", "Autoliquidation")
INTRA_EU_SUPPLY = Exemption(INTRA_EU, "VATEX-EU-IC", "Exonération de TVA, article 262 ter I du CGI")
EXPORT_OUTSIDE_EU = Exemption(EXPORT, "VATEX-EU-G", "Exonération de TVA, article 262 I du CGI")
OTHER_EXEMPTION = Exemption(EXEMPT, None, None)
FRANCHISE = "TVA non applicable, art. 293 B du CGI"
# What the editors offer for a 0 % line (the user may still type any other legal wording).
STANDARD_MENTIONS = (
    AUTOLIQUIDATION.mention,
    INTRA_EU_SUPPLY.mention,
    EXPORT_OUTSIDE_EU.mention,
    FRANCHISE,
)
_RECOGNISED = (
    (re.compile(r"\bauto ?liquidation\b|\breverse charge\b"), AUTOLIQUIDATION),
    (re.compile(r"\b262 ter\b"), INTRA_EU_SUPPLY),
    (re.compile(r"\b262 i\b"), EXPORT_OUTSIDE_EU),
)
# The breakdown order: the standard rates (highest first), then the 0 % categories.
_ORDER = (EXEMPT, REVERSE_CHARGE, INTRA_EU, EXPORT)


def _words(text: str) -> str:
    """Lower case, no accents, words separated by single spaces ("262-I" -> "262 i")."""
    plain = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^0-9a-z]+", " ", plain).split())


def classify(reason: str | None) -> Exemption:
    """The exemption a 0 % line's mention states (OTHER_EXEMPTION when it names none of ours)."""
    text = _words(reason or "")
    for pattern, exemption in _RECOGNISED:
        if pattern.search(text):
            return exemption
    return OTHER_EXEMPTION


def category_of(line: doc_lines.LineInput) -> str:
    return STANDARD if line.vat_rate != 0 else classify(line.vat_exemption_reason).category


def categories(lines: list[doc_lines.LineInput]) -> set[str]:
    """The VAT categories of the item lines."""
    return {category_of(line) for line in lines if line.kind == doc_lines.ITEM}


@dataclass(frozen=True)
class VatGroup:
    """One line of the VAT breakdown (EN 16931 BG-23): a rate and a category, with its base after
    its share of the global discount, its VAT and the mentions of its lines."""

    rate: Decimal
    category: str
    base: Decimal
    vat: Decimal
    discount: Decimal  # its share of the global discount (BG-20)
    reasons: tuple[str, ...] = ()
    code: str | None = None


def vat_groups(totals: doc_lines.Totals) -> list[VatGroup]:
    """The VAT breakdown of `totals`: one group per standard rate, and at 0 % one per category
    (EN 16931 allows exactly one breakdown per exemption category: BR-E-01, BR-AE-01, BR-IC-01,
    BR-G-01). The 0 % share of the global discount is split between the categories in proportion
    to their nets, so the bases still add up exactly to the total excl. VAT."""
    groups: list[VatGroup] = []
    for vat in totals.vat_by_rate:
        discount = totals.discount_by_rate.get(vat.rate, ZERO)
        if vat.rate != 0:
            groups.append(VatGroup(vat.rate, STANDARD, vat.base, vat.vat, discount))
            continue
        nets: dict[str, Decimal] = {}
        reasons: dict[str, list[str]] = {}
        for computed in totals.items:
            if computed.line.vat_rate.quantize(money.CENT) != vat.rate:
                continue
            category = category_of(computed.line)
            nets[category] = nets.get(category, ZERO) + computed.net
            found = reasons.setdefault(category, [])
            reason = computed.line.vat_exemption_reason
            if reason and reason not in found:
                found.append(reason)
        shares = doc_lines.share_out(discount, nets)
        for category in sorted(nets, key=_ORDER.index):
            exemption = next((e for _, e in _RECOGNISED if e.category == category), OTHER_EXEMPTION)
            groups.append(
                VatGroup(
                    vat.rate,
                    category,
                    nets[category] - shares[category],
                    ZERO,
                    shares[category],
                    tuple(reasons[category]),
                    exemption.code,
                )
            )
    return groups
