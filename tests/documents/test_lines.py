"""Totals of quotes and invoices: exact cents, VAT once per rate, discounts shared out exactly."""

from decimal import Decimal as D

import pytest

from carnet.core.errors import ValidationFailed
from carnet.documents import lines
from carnet.documents.lines import Discount, LineInput


def item(price: str, qty: str = "1", rate: str = "20", **kw) -> LineInput:
    return LineInput(description="x", quantity=D(qty), unit_price=D(price), vat_rate=D(rate), **kw)


def test_vat_is_computed_once_per_rate_on_the_sum_of_nets():
    # france.md §3.2: 3 × 1.05 at 5.5 % -> 3.15 × 5.5 % = 0.17325 -> 0.17 (not 3 × 0.06 = 0.18)
    totals = lines.compute([item("1.05", rate="5.5")] * 3)
    assert totals.total_net == D("3.15")
    assert totals.vat_by_rate == [(D("5.50"), D("3.15"), D("0.17"))]
    assert totals.total_vat == D("0.17")
    assert totals.total_gross == D("3.32")


def test_several_rates_with_line_discounts():
    totals = lines.compute(
        [
            item("199.99", "3", "20", discount_percent=D("10")),  # 599.97 - 10 % = 539.973 -> 539.97
            item("45.50", "2", "5.5", discount_amount=D("1.00")),  # 91.00 - 1 = 90.00
            item("12.34", "1.5", "2.1"),  # 18.51
            item("100", "1", "0", vat_exemption_reason="TVA non applicable, art. 293 B du CGI"),
            item("0.10", "7", "10"),  # 0.70
        ]
    )
    nets = [c.net for c in totals.lines]
    assert nets == [D("539.97"), D("90.00"), D("18.51"), D("100.00"), D("0.70")]
    assert [c.discount for c in totals.lines] == [D("60.00"), D("1.00"), D("0.00"), D("0.00"), D("0.00")]
    assert totals.vat_by_rate == [
        (D("20.00"), D("539.97"), D("107.99")),
        (D("10.00"), D("0.70"), D("0.07")),
        (D("5.50"), D("90.00"), D("4.95")),
        (D("2.10"), D("18.51"), D("0.39")),
        (D("0.00"), D("100.00"), D("0.00")),
    ]
    assert totals.total_net == D("749.18")
    assert totals.total_vat == D("113.40")
    assert totals.total_gross == D("862.58")


def test_global_discount_is_shared_between_rates_and_bases_add_up():
    totals = lines.compute(
        [item("100", rate="20"), item("33.33", rate="5.5"), item("66.67", rate="10")],
        Discount(amount=D("10.00")),
    )
    assert totals.lines_net == D("200.00")
    assert totals.global_discount == D("10.00")
    assert totals.total_net == D("190.00")
    # 10 × 100/200 = 5.00; 10 × 66.67/200 = 3.3335 -> 3.33; 10 × 33.33/200 = 1.6665 -> 1.67
    assert totals.discount_by_rate == {D("20.00"): D("5.00"), D("10.00"): D("3.33"), D("5.50"): D("1.67")}
    assert [v.base for v in totals.vat_by_rate] == [D("95.00"), D("63.34"), D("31.66")]
    assert sum(v.base for v in totals.vat_by_rate) == totals.total_net
    assert [v.vat for v in totals.vat_by_rate] == [D("19.00"), D("6.33"), D("1.74")]
    assert totals.total_gross == totals.total_net + totals.total_vat == D("217.07")


def test_global_discount_rounding_rest_goes_to_the_largest_base():
    totals = lines.compute(
        [item("10", rate="20"), item("10", rate="10"), item("10", rate="5.5")], Discount(amount=D("0.10"))
    )
    # 0.10 / 3 = 0.0333 each -> 0.03 × 3 = 0.09, the missing cent goes to the largest base (ties: highest rate)
    assert totals.discount_by_rate == {D("20.00"): D("0.04"), D("10.00"): D("0.03"), D("5.50"): D("0.03")}
    assert sum(v.base for v in totals.vat_by_rate) == D("29.90") == totals.total_net


def test_global_discount_in_percent():
    totals = lines.compute([item("123.45", "3")], Discount(percent=D("7.5")))
    assert totals.lines_net == D("370.35")
    assert totals.global_discount == D("27.78")  # 27.77625
    assert totals.total_net == D("342.57")
    assert totals.total_vat == D("68.51")  # 68.514
    assert totals.total_gross == D("411.08")


def test_many_lines_add_up_exactly():
    many = [
        item(f"{i}.{i % 100:02d}", str((i % 7) + 1), ("20", "10", "5.5", "2.1")[i % 4]) for i in range(1, 301)
    ]
    totals = lines.compute(many, Discount(percent=D("3")))
    assert len(totals.items) == 300
    assert totals.lines_net == sum((c.net for c in totals.lines), D(0))
    assert sum((v.base for v in totals.vat_by_rate), D(0)) == totals.total_net
    assert totals.total_net == totals.lines_net - totals.global_discount
    assert totals.total_gross == totals.total_net + sum((v.vat for v in totals.vat_by_rate), D(0))
    for v in totals.vat_by_rate:
        assert v.vat == (v.base * v.rate / 100).quantize(D("0.01"), rounding="ROUND_HALF_UP")


def test_sections_have_subtotals():
    totals = lines.compute(
        [
            item("5"),
            LineInput(description="Matériel", kind="section"),
            item("10", "2"),
            item("2.50", "4"),
            LineInput(description="Services", kind="section"),
            item("300"),
        ]
    )
    assert [(s.position, s.title, s.subtotal) for s in totals.sections] == [
        (1, "Matériel", D("30.00")),
        (4, "Services", D("300.00")),
    ]
    assert totals.total_net == D("335.00")
    assert (
        totals.lines[1].net == D("0.00") and totals.lines[2].section == 1 and totals.lines[0].section is None
    )


def test_parse_lines_reports_each_bad_field():
    with pytest.raises(ValidationFailed) as info:
        lines.parse_lines(
            [
                {"description": "ok", "quantity": "2", "unit_price": "10", "vat_rate": "20"},
                {"description": "", "quantity": "x", "unit_price": "10", "vat_rate": "19.6"},
                {"description": "no vat", "unit_price": "10", "vat_rate": "0"},
                {
                    "description": "both",
                    "unit_price": "10",
                    "vat_rate": "20",
                    "discount_percent": "5",
                    "discount_amount": "1",
                },
                {"description": "too much", "unit_price": "10", "vat_rate": "20", "discount_amount": "11"},
            ]
        )
    assert sorted((e.field, e.code) for e in info.value.errors) == [
        ("lines.1.description", "required"),
        ("lines.1.quantity", "invalid_number"),
        ("lines.1.vat_rate", "invalid_vat_rate"),
        ("lines.2.vat_exemption_reason", "exemption_reason_required"),
        ("lines.3.discount_amount", "both_discounts"),
        ("lines.4.discount_amount", "discount_too_large"),
    ]


def test_parse_and_store_round_trip():
    parsed = lines.parse_lines(
        [
            {"kind": "section", "description": "Lot 1"},
            {
                "description": "Lit médicalisé",
                "quantity": "1,5",
                "unit_price": "1 250,00",
                "vat_rate": "5,5",
                "discount_percent": "10",
                "unit": "u",
            },
        ]
    )
    assert (
        parsed[1].unit_price == D("1250.00")
        and parsed[1].vat_rate == D("5.50")
        and parsed[1].quantity == D("1.500")
    )
    stored = [lines.line_to_dict(line) for line in parsed]
    assert stored[1]["unit_price"] == "1250.00" and stored[1]["quantity"] == "1.500"
    assert [lines.line_from_dict(d) for d in stored] == parsed


def test_parse_discount():
    assert lines.parse_discount("", None) is None
    assert lines.parse_discount("5", None) == Discount(percent=D("5.00"))
    with pytest.raises(ValidationFailed):
        lines.parse_discount("5", "10")
    with pytest.raises(ValidationFailed):
        lines.parse_discount(None, "101", D("100"))
