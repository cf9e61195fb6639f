"""Document lines and totals, in Decimal (france.md §3.2).

A line's net is `quantity × unit price − line discount`, rounded half-up to the cent. A global
discount is taken off the sum of line nets and shared out between the VAT rates in proportion to
their nets (the cents left by rounding go to the largest base), so the bases add up exactly to the
total excl. VAT. VAT is computed once per rate on its base, rounded half-up (EN 16931 BR-CO-17),
and every total adds up exactly: total excl. VAT = Σ line nets − global discount (BR-CO-10/11),
total incl. VAT = total excl. VAT + Σ VAT (BR-CO-15).

Section lines carry a title and no amount; their subtotal is the sum of the nets of the item lines
that follow them, up to the next section.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from carnet.core import inputs, money
from carnet.core.errors import FieldErrors, ValidationFailed

ITEM, SECTION = "item", "section"
LINE_KINDS = (ITEM, SECTION)
MAX_LINES = 1000
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class LineInput:
    description: str
    quantity: Decimal = Decimal(1)
    unit_price: Decimal = ZERO
    vat_rate: Decimal = Decimal("20.00")
    discount_percent: Decimal | None = None
    discount_amount: Decimal | None = None
    kind: str = ITEM
    unit: str | None = None
    reference: str | None = None
    product_id: int | None = None
    vat_exemption_reason: str | None = None


@dataclass(frozen=True)
class ComputedLine:
    line: LineInput
    position: int
    gross: Decimal  # quantity × unit price, rounded
    discount: Decimal  # gross − net
    net: Decimal
    section: int | None  # position of the section line it belongs to

    @property
    def kind(self) -> str:
        return self.line.kind


@dataclass(frozen=True)
class SectionTotal:
    position: int
    title: str
    subtotal: Decimal


class VatAmount(NamedTuple):
    rate: Decimal
    base: Decimal  # after its share of the global discount
    vat: Decimal


@dataclass(frozen=True)
class Discount:
    """A global discount: a percentage of the lines' total, or an amount."""

    percent: Decimal | None = None
    amount: Decimal | None = None

    def value_on(self, total: Decimal) -> Decimal:
        if self.percent is not None:
            return money.cents(total * self.percent / 100)
        return money.cents(self.amount or 0)


@dataclass
class Totals:
    lines: list[ComputedLine]
    sections: list[SectionTotal]
    lines_net: Decimal  # Σ line nets (EN 16931 BT-106)
    global_discount: Decimal  # BT-107
    total_net: Decimal  # BT-109
    vat_by_rate: list[VatAmount]  # one per rate, highest rate first (BG-23)
    discount_by_rate: dict[Decimal, Decimal] = field(default_factory=dict)
    total_vat: Decimal = ZERO  # BT-110
    total_gross: Decimal = ZERO  # BT-112

    @property
    def items(self) -> list[ComputedLine]:
        return [c for c in self.lines if c.kind == ITEM]

    def as_dict(self) -> dict[str, Any]:
        """The totals as stored with a document version and sent by the API (decimal strings)."""
        return {
            "lines_net": f"{self.lines_net:.2f}",
            "global_discount": f"{self.global_discount:.2f}",
            "total_net": f"{self.total_net:.2f}",
            "vat_by_rate": [
                {"rate": f"{v.rate:.2f}", "base": f"{v.base:.2f}", "vat": f"{v.vat:.2f}"}
                for v in self.vat_by_rate
            ],
            "total_vat": f"{self.total_vat:.2f}",
            "total_gross": f"{self.total_gross:.2f}",
            "sections": [
                {"position": s.position, "title": s.title, "subtotal": f"{s.subtotal:.2f}"}
                for s in self.sections
            ],
        }


def line_net(line: LineInput) -> tuple[Decimal, Decimal, Decimal]:
    """(gross, discount, net) of an item line."""
    exact = line.quantity * line.unit_price
    gross = money.cents(exact)
    if line.discount_percent is not None:
        net = money.cents(exact * (100 - line.discount_percent) / 100)
    elif line.discount_amount is not None:
        net = money.cents(exact - line.discount_amount)
    else:
        net = gross
    return gross, gross - net, net


def share_out(amount: Decimal, bases: dict[Any, Decimal]) -> dict[Any, Decimal]:
    """`amount` split between keys (VAT rates, categories) in proportion to their bases; the shares
    add up to `amount`."""
    total = sum(bases.values(), ZERO)
    if not amount or not total:
        return {r: ZERO for r in bases}
    shares = {r: money.cents(amount * b / total) for r, b in bases.items()}
    rest = amount - sum(shares.values(), ZERO)
    if rest:
        largest = max(bases, key=lambda r: (abs(bases[r]), r))
        shares[largest] += rest
    return shares


def compute(lines: Iterable[LineInput], global_discount: Discount | None = None) -> Totals:
    computed: list[ComputedLine] = []
    section_titles: dict[int, str] = {}
    section_sums: dict[int, Decimal] = {}
    current: int | None = None
    nets_by_rate: dict[Decimal, Decimal] = {}
    for position, line in enumerate(lines):
        if line.kind == SECTION:
            current = position
            section_titles[position] = line.description
            section_sums[position] = ZERO
            computed.append(ComputedLine(line, position, ZERO, ZERO, ZERO, None))
            continue
        gross, discount, net = line_net(line)
        computed.append(ComputedLine(line, position, gross, discount, net, current))
        if current is not None:
            section_sums[current] += net
        rate = line.vat_rate.quantize(money.CENT)
        nets_by_rate[rate] = nets_by_rate.get(rate, ZERO) + net
    lines_net = sum(nets_by_rate.values(), ZERO)
    discount = global_discount.value_on(lines_net) if global_discount else ZERO
    shares = share_out(discount, nets_by_rate)
    vat_by_rate = []
    for rate in sorted(nets_by_rate, reverse=True):
        base = nets_by_rate[rate] - shares[rate]
        vat_by_rate.append(VatAmount(rate, base, money.cents(base * rate / 100)))
    total_net = lines_net - discount
    total_vat = sum((v.vat for v in vat_by_rate), ZERO)
    return Totals(
        lines=computed,
        sections=[SectionTotal(p, section_titles[p], section_sums[p]) for p in section_titles],
        lines_net=lines_net,
        global_discount=discount,
        total_net=total_net,
        vat_by_rate=vat_by_rate,
        discount_by_rate=shares,
        total_vat=total_vat,
        total_gross=total_net + total_vat,
    )


# -- parsing what users send ------------------------------------------------------------------------


def parse_line(
    raw: Any, index: int, errors: FieldErrors, *, allow_negative: bool = False
) -> LineInput | None:
    """One line from a dict (API or form); errors go on `lines.<index>.<field>`."""
    prefix = f"lines.{index}"
    if not isinstance(raw, dict):
        errors.add(prefix, "Each line must be an object", "invalid_type")
        return None
    kind = raw.get("kind") or ITEM
    if kind not in LINE_KINDS:
        errors.add(f"{prefix}.kind", "A line is an item or a section", "invalid_choice")
        return None
    description = inputs.text(raw.get("description"), f"{prefix}.description", 2000, errors)
    if not description:
        errors.add(f"{prefix}.description", "This field is required", "required")
    if kind == SECTION:
        return LineInput(description=description or "", kind=SECTION)
    found = FieldErrors()
    quantity = inputs.collect(
        found,
        money.parse_quantity,
        raw.get("quantity", 1),
        f"{prefix}.quantity",
        allow_negative=allow_negative,
    )
    unit_price = inputs.collect(
        found, money.parse_money, raw.get("unit_price"), f"{prefix}.unit_price", allow_negative=allow_negative
    )
    vat_rate = inputs.collect(found, money.rate, raw.get("vat_rate"), f"{prefix}.vat_rate")
    percent = raw.get("discount_percent")
    amount = raw.get("discount_amount")
    percent = (
        None
        if percent in (None, "")
        else inputs.collect(found, money.percent, percent, f"{prefix}.discount_percent")
    )
    amount = (
        None
        if amount in (None, "")
        else inputs.collect(found, money.parse_money, amount, f"{prefix}.discount_amount")
    )
    if percent is not None and amount is not None:
        found.add(
            f"{prefix}.discount_amount", "Give a discount in % or as an amount, not both", "both_discounts"
        )
    if amount is not None and quantity is not None and unit_price is not None:
        if amount > abs(money.cents(quantity * unit_price)):
            found.add(
                f"{prefix}.discount_amount", "The discount is larger than the line", "discount_too_large"
            )
    reason = inputs.text(raw.get("vat_exemption_reason"), f"{prefix}.vat_exemption_reason", 200, found)
    if vat_rate is not None and vat_rate == 0 and not reason:
        # france.md §1.2 item 15: a line without VAT states why.
        found.add(
            f"{prefix}.vat_exemption_reason",
            "Give the VAT exemption reason (such as: TVA non applicable, art. 293 B du CGI)",
            "exemption_reason_required",
        )
    unit = inputs.text(raw.get("unit"), f"{prefix}.unit", 20, found)
    reference = inputs.text(raw.get("reference"), f"{prefix}.reference", 60, found)
    product_id = raw.get("product_id")
    if product_id in ("", None):
        product_id = None
    else:
        try:
            product_id = int(product_id)
        except (TypeError, ValueError):
            found.add(f"{prefix}.product_id", "Unknown product", "unknown")
            product_id = None
    errors.errors.extend(found.errors)
    if found or not description:
        return None
    return LineInput(
        description=description,
        quantity=quantity,
        unit_price=unit_price,
        vat_rate=vat_rate,
        discount_percent=percent,
        discount_amount=amount,
        kind=ITEM,
        unit=unit,
        reference=reference,
        product_id=product_id,
        vat_exemption_reason=reason if vat_rate == 0 else None,
    )


def parse_lines(raw: Any, *, allow_negative: bool = False, required: bool = False) -> list[LineInput]:
    """Every line of a document, or ValidationFailed listing every bad field."""
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise ValidationFailed.on("lines", "Must be a list of lines", "invalid_type")
    if len(raw) > MAX_LINES:
        raise ValidationFailed.on("lines", "At most {max} lines", "too_many", max=MAX_LINES)
    errors = FieldErrors()
    out = [parse_line(item, i, errors, allow_negative=allow_negative) for i, item in enumerate(raw)]
    if required and not any(line is not None and line.kind == ITEM for line in out) and not errors:
        errors.add("lines", "Add at least one line", "required")
    errors.raise_if_any()
    return [line for line in out if line is not None]


def parse_discount(percent: Any, amount: Any, lines_net: Decimal | None = None) -> Discount | None:
    """A global discount from a percentage or an amount (not both), or None."""
    percent = None if percent in (None, "") else money.percent(percent, "global_discount_percent")
    amount = None if amount in (None, "") else money.parse_money(amount, "global_discount_amount")
    if percent is not None and amount is not None:
        raise ValidationFailed.on(
            "global_discount_amount", "Give a discount in % or as an amount, not both", "both_discounts"
        )
    if amount is not None and lines_net is not None and amount > max(lines_net, ZERO):
        raise ValidationFailed.on(
            "global_discount_amount", "The discount is larger than the total", "discount_too_large"
        )
    if not percent and not amount:
        return None
    return Discount(percent=percent, amount=amount)


def preview(data: dict[str, Any]) -> Totals:
    """Totals of lines being edited (`lines`, `global_discount_percent`/`_amount`), nothing saved:
    the live totals of the quote and invoice editors. Raises ValidationFailed on a wrong value."""
    parsed = parse_lines(data.get("lines") or [])
    lines_net = compute(parsed).lines_net
    discount = parse_discount(
        data.get("global_discount_percent"), data.get("global_discount_amount"), lines_net
    )
    return compute(parsed, discount)


def line_to_dict(line: LineInput) -> dict[str, Any]:
    """A line as stored in a document version and sent by the API."""

    def num(v: Decimal | None, places: int = 2) -> str | None:
        return None if v is None else f"{v:.{places}f}"

    return {
        "kind": line.kind,
        "description": line.description,
        "quantity": num(line.quantity, 3) if line.kind == ITEM else None,
        "unit": line.unit,
        "unit_price": num(line.unit_price) if line.kind == ITEM else None,
        "vat_rate": num(line.vat_rate) if line.kind == ITEM else None,
        "discount_percent": num(line.discount_percent),
        "discount_amount": num(line.discount_amount),
        "reference": line.reference,
        "product_id": line.product_id,
        "vat_exemption_reason": line.vat_exemption_reason,
    }


def line_from_dict(data: dict[str, Any]) -> LineInput:
    """The inverse of `line_to_dict` (stored data, already validated)."""

    def dec(v: Any) -> Decimal | None:
        return None if v in (None, "") else Decimal(str(v))

    if data.get("kind") == SECTION:
        return LineInput(description=data["description"], kind=SECTION)
    return LineInput(
        description=data["description"],
        quantity=dec(data.get("quantity")) or Decimal(0),
        unit_price=dec(data.get("unit_price")) or ZERO,
        vat_rate=dec(data.get("vat_rate")) or ZERO,
        discount_percent=dec(data.get("discount_percent")),
        discount_amount=dec(data.get("discount_amount")),
        unit=data.get("unit"),
        reference=data.get("reference"),
        product_id=data.get("product_id"),
        vat_exemption_reason=data.get("vat_exemption_reason"),
    )


def exemption_reasons(lines: Sequence[LineInput]) -> list[str]:
    """The distinct VAT exemption wordings of the lines, in order (france.md §1.2 item 15)."""
    out: list[str] = []
    for line in lines:
        if line.kind == ITEM and line.vat_rate == 0 and line.vat_exemption_reason:
            if line.vat_exemption_reason not in out:
                out.append(line.vat_exemption_reason)
    return out
