"""Money as `Decimal`, never floats: rounding, parsing what people type, VAT rates.

Amounts have 2 decimals rounded half-up (france.md §3.2); columns are Numeric(14, 2), quantities
Numeric(12, 3), rates Numeric(5, 2).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from carnet.core.errors import ValidationFailed

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("999999999999.99")  # Numeric(14, 2)
MAX_QUANTITY = Decimal("999999999.999")  # Numeric(12, 3)
# Mainland French VAT rates (france.md §3.1); 0 needs an exemption reason.
VAT_RATES: tuple[Decimal, ...] = (Decimal("20"), Decimal("10"), Decimal("5.5"), Decimal("2.1"), Decimal("0"))


def cents(value: Decimal | int | str) -> Decimal:
    """`value` rounded half-up to the cent."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def _to_decimal(raw: Any) -> Decimal | None:
    """A Decimal from a number or a French- or English-typed string ("1 234,56 €", "1234.56")."""
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, Decimal):
        return raw if raw.is_finite() else None
    if isinstance(raw, int):
        return Decimal(raw)
    if isinstance(raw, float):
        return Decimal(str(raw))
    text = str(raw).strip()
    for junk in ("\u202f", "\xa0", " ", "€", "%"):
        text = text.replace(junk, "")
    if "," in text and "." in text:  # "1.234,56" or "1,234.56": the last separator is the decimal one
        if text.rfind(",") > text.rfind("."):
            text = text.replace(".", "").replace(",", ".")
        else:
            text = text.replace(",", "")
    else:
        text = text.replace(",", ".")
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def parse_decimal(
    raw: Any,
    field: str,
    *,
    places: int = 2,
    minimum: Decimal | None = Decimal(0),
    maximum: Decimal | None = MAX_AMOUNT,
    message: str = "Enter a number such as 1234.56",
) -> Decimal:
    """A Decimal with at most `places` decimals within bounds, or ValidationFailed on `field`."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise ValidationFailed.on(field, "This field is required", "required")
    value = _to_decimal(raw)
    if value is None:
        raise ValidationFailed.on(field, message, "invalid_number")
    if value != value.quantize(Decimal(1).scaleb(-places)):
        raise ValidationFailed.on(field, "Use at most {places} decimals", "too_many_decimals", places=places)
    if minimum is not None and value < minimum:
        if minimum == 0:
            raise ValidationFailed.on(field, "Cannot be negative", "negative")
        raise ValidationFailed.on(field, "Must be at least {min}", "too_small", min=str(minimum))
    if maximum is not None and value > maximum:
        raise ValidationFailed.on(field, "This number is too large", "too_large")
    return value.quantize(Decimal(1).scaleb(-places))


def parse_money(raw: Any, field: str, *, allow_negative: bool = False) -> Decimal:
    """Euros with at most 2 decimals; accepts "1 234,56", "1234.56", "1 234,56 €"."""
    return parse_decimal(
        raw,
        field,
        places=2,
        minimum=-MAX_AMOUNT if allow_negative else Decimal(0),
        message="Enter an amount in euros, such as 1234.56",
    )


def parse_quantity(raw: Any, field: str, *, allow_negative: bool = False) -> Decimal:
    return parse_decimal(
        raw,
        field,
        places=3,
        minimum=-MAX_QUANTITY if allow_negative else Decimal(0),
        maximum=MAX_QUANTITY,
        message="Enter a quantity such as 2 or 1.5",
    )


def rate(raw: Any, field: str = "vat_rate") -> Decimal:
    """One of the French VAT rates (20, 10, 5.5, 2.1, 0), as Decimal with 2 decimals."""
    value = _to_decimal(raw) if not (isinstance(raw, str) and not raw.strip()) else None
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise ValidationFailed.on(field, "This field is required", "required")
    if value is None or value not in VAT_RATES:
        raise ValidationFailed.on(field, "Choose a VAT rate: 20, 10, 5.5, 2.1 or 0 %", "invalid_vat_rate")
    return value.quantize(CENT)


def percent(raw: Any, field: str) -> Decimal:
    """A percentage between 0 and 100 with at most 2 decimals."""
    return parse_decimal(raw, field, places=2, minimum=Decimal(0), maximum=Decimal(100))


def money_str(value: Decimal | None) -> str | None:
    """Money as the API writes it: a decimal string with 2 decimals."""
    return None if value is None else f"{cents(value):.2f}"
