from decimal import Decimal

import pytest

from carnet.core import money
from carnet.core.errors import ValidationFailed


def test_cents_rounds_half_up():
    assert money.cents(Decimal("0.125")) == Decimal("0.13")
    assert money.cents(Decimal("0.17325")) == Decimal("0.17")
    assert money.cents(Decimal("-0.125")) == Decimal("-0.13")
    assert money.cents(2) == Decimal("2.00")


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("1 234,56", Decimal("1234.56")),
        ("1234.56", Decimal("1234.56")),
        ("1\u202f234,56\xa0€", Decimal("1234.56")),
        ("1.234,56", Decimal("1234.56")),
        ("1,234.56", Decimal("1234.56")),
        (12, Decimal("12.00")),
        (Decimal("0.5"), Decimal("0.50")),
    ],
)
def test_parse_money_accepts_french_and_english_writing(raw, expected):
    assert money.parse_money(raw, "amount") == expected


@pytest.mark.parametrize(
    "raw, code",
    [
        ("", "required"),
        ("abc", "invalid_number"),
        ("1,234", "too_many_decimals"),
        ("-3", "negative"),
        ("1e20", "too_large"),
        (True, "invalid_number"),
        ("NaN", "invalid_number"),
    ],
)
def test_parse_money_rejects_with_a_field_error(raw, code):
    with pytest.raises(ValidationFailed) as info:
        money.parse_money(raw, "unit_price")
    assert [(e.field, e.code) for e in info.value.errors] == [("unit_price", code)]


def test_negative_money_only_when_allowed():
    assert money.parse_money("-12,50", "x", allow_negative=True) == Decimal("-12.50")


def test_vat_rates():
    assert money.rate("5,5") == Decimal("5.50")
    assert money.rate(20) == Decimal("20.00")
    assert money.rate("2.1") == Decimal("2.10")
    assert money.rate("0") == Decimal("0.00")
    for bad in ("19.6", "7", "", None, "x"):
        with pytest.raises(ValidationFailed):
            money.rate(bad)


def test_quantity_has_three_decimals():
    assert money.parse_quantity("1,5", "q") == Decimal("1.500")
    with pytest.raises(ValidationFailed):
        money.parse_quantity("1.2345", "q")
