"""The VAT category a 0 % line declares comes from its legal mention, and the VAT breakdown has one
group per standard rate and one per exemption category, its bases adding up exactly."""

from __future__ import annotations

from decimal import Decimal

import pytest

from carnet.documents import exemptions
from carnet.documents import lines as doc_lines

D = Decimal


@pytest.mark.parametrize(
    ("reason", "category", "code"),
    [
        ("Autoliquidation", "AE", "VATEX-EU-AE"),
        ("AUTOLIQUIDATION - article 283-2 du CGI", "AE", "VATEX-EU-AE"),
        ("Auto-liquidation par le preneur", "AE", "VATEX-EU-AE"),
        ("Reverse charge", "AE", "VATEX-EU-AE"),
        ("Exonération de TVA, article 262 ter I du CGI", "K", "VATEX-EU-IC"),
        ("Exoneration TVA art. 262 ter, I CGI", "K", "VATEX-EU-IC"),
        ("Exonération de TVA, article 262 I du CGI", "G", "VATEX-EU-G"),
        ("Exonération de TVA – art. 262-I du CGI (exportation)", "G", "VATEX-EU-G"),
        ("TVA non applicable, art. 293 B du CGI", "E", None),
        ("Exonération de TVA, art. 261-4-4° du CGI", "E", None),
        ("Exonération art. 262 II du CGI", "E", None),
        (None, "E", None),
    ],
)
def test_the_mention_gives_the_category(reason, category, code):
    found = exemptions.classify(reason)
    assert (found.category, found.code) == (category, code)


def test_the_standard_mentions_are_recognised_as_themselves():
    assert [exemptions.classify(m).category for m in exemptions.STANDARD_MENTIONS] == ["AE", "K", "G", "E"]


def test_a_line_with_vat_is_standard_whatever_its_text():
    line = doc_lines.LineInput("Audit", D(1), D("100"), D("20.00"), vat_exemption_reason="Autoliquidation")
    assert exemptions.category_of(line) == "S"


def _line(description: str, net: str, rate: str = "0", reason: str | None = None) -> doc_lines.LineInput:
    return doc_lines.LineInput(
        description, D(1), D(net), D(rate), vat_exemption_reason=reason if rate == "0" else None
    )


def test_one_group_per_rate_and_per_exemption_category_adding_up_exactly():
    totals = doc_lines.compute(
        [
            _line("Lit", "4000.00", reason="Exonération de TVA, article 262 ter I du CGI"),
            _line("Installation", "333.33", reason="Autoliquidation"),
            _line("Formation", "166.67", reason="Exonération de TVA, art. 261-4-4° du CGI"),
            _line("Frais", "100.00", rate="20"),
            _line("Pansements", "50.00", rate="5.5"),
        ],
        doc_lines.Discount(amount=D("100.00")),
    )
    groups = exemptions.vat_groups(totals)
    assert [(g.rate, g.category, g.code) for g in groups] == [
        (D("20.00"), "S", None),
        (D("5.50"), "S", None),
        (D("0.00"), "E", None),
        (D("0.00"), "AE", "VATEX-EU-AE"),
        (D("0.00"), "K", "VATEX-EU-IC"),
    ]
    # discount 100 of 4650: 20 % 2.15, 5.5 % 1.08, 0 % 96.77, itself split 3.58 / 7.17 / 86.02
    assert [g.discount for g in groups] == [D("2.15"), D("1.08"), D("3.58"), D("7.17"), D("86.02")]
    assert [g.base for g in groups] == [D("97.85"), D("48.92"), D("163.09"), D("326.16"), D("3913.98")]
    assert sum(g.base for g in groups) == totals.total_net == D("4550.00")
    assert sum(g.discount for g in groups) == totals.global_discount
    assert [g.vat for g in groups] == [D("19.57"), D("2.69"), D("0.00"), D("0.00"), D("0.00")]
    assert sum(g.vat for g in groups) == totals.total_vat
    assert [g.reasons for g in groups][2:] == [
        ("Exonération de TVA, art. 261-4-4° du CGI",),
        ("Autoliquidation",),
        ("Exonération de TVA, article 262 ter I du CGI",),
    ]


def test_lines_of_one_category_share_its_group_with_every_wording():
    totals = doc_lines.compute(
        [
            _line("Maintenance", "100.00", reason="Autoliquidation"),
            _line("Réparation", "50.00", reason="Autoliquidation (art. 283-2 du CGI)"),
            _line("Contrôle", "25.00", reason="Autoliquidation"),
        ]
    )
    (group,) = exemptions.vat_groups(totals)
    assert (group.category, group.base) == ("AE", D("175.00"))
    assert group.reasons == ("Autoliquidation", "Autoliquidation (art. 283-2 du CGI)")
