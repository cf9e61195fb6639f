"""VAT collected on hold: the VAT of services that becomes due only when the client pays
(france.md §5.4, §1.5 item 4, §2.2), and the amount helpers the FEC shares with it.

The rule (CGI art. 269-2-a and c): VAT on goods is due at delivery, booked on 44571 at invoicing.
VAT on services is due when the price is received, unless the seller opted for VAT on debits;
without the option it waits on a "TVA collectée en attente" account (4458x) and moves to 44571
as the client pays. Deposits follow the same rule (§2.2): a services deposit's VAT waits for the
deposit's payment.

Which option: the seller as frozen on the document at issue (`parties.seller.vat_on_debits`, the
mention its PDF and Factur-X carry), so a later change of the company settings does not rewrite
what was issued. A credit note follows the invoice it corrects.

Goods or services, per line: a line whose product category has its own revenue account in the
account mapping takes the nature of that account's class in the French chart of accounts (PCG):
701–703 and 707 are sales of goods, 704–706 works, studies and services. Any other line (no
product, a category without its own account, or an account such as 708) takes the document's
nature of the operation: goods or services. A "mixed" document with no per-line information
counts as goods: VAT on goods is already due at invoicing, and booking it on hold would declare
it late (a VAT booked due early is never late). Map the product categories to 706/707 accounts
to split such documents line by line.

Per VAT rate, the VAT is split between goods and services in proportion to the nets of their
lines (`share_out`, the same sharing as the revenue accounts), so the parts add up exactly.

Moving the VAT to 44571 (`settle`): each payment allocated to an invoice moves the share of the
VAT still on hold that the payment pays of what the client still owes,
`VAT still on hold × amount / amount still due`, in cents; the payment that settles the invoice
takes what is left, so a fully paid invoice has moved exactly its VAT on hold. A credit note
takes back its services VAT from what is still on hold (capped by it, per rate): once the VAT
has moved because the client paid, the credit note takes it back from 44571 instead.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from carnet.core import money
from carnet.finance.service import ChartOfAccounts

ZERO = Decimal("0.00")
GOODS, SERVICES, MIXED = "goods", "services", "mixed"
# PCG classes of revenue accounts (france.md §5.4: 707 ventes de marchandises, 706 prestations).
GOODS_ACCOUNTS = ("701", "702", "703", "707")
SERVICES_ACCOUNTS = ("704", "705", "706")


def share_out(amount: Decimal, weights: dict[Any, Decimal]) -> dict[Any, Decimal]:
    """`amount` split in proportion to `weights`, in cents, adding up exactly to `amount` (the
    cents left by rounding go to the largest weight)."""
    if len(weights) == 1:  # the usual case: one account per rate
        return dict.fromkeys(weights, amount)
    if not weights:
        return {}
    total = sum(weights.values(), ZERO)
    if not total:
        largest = max(weights, key=lambda k: (abs(weights[k]), str(k)))
        return {k: (amount if k == largest else ZERO) for k in weights}
    shares = {k: money.cents(amount * w / total) for k, w in weights.items()}  # half-up, as §3.2
    rest = amount - sum(shares.values(), ZERO)
    if rest:
        largest = max(weights, key=lambda k: (abs(weights[k]), str(k)))
        shares[largest] += rest
    return shares


# The fields of a stored line (documents.lines.line_to_dict) the accounting reads, in this order:
# a line is read as the list of their values (fec._documents has the database pick them out).
LINE_FIELDS = (
    "kind",
    "vat_rate",
    "product_id",
    "quantity",
    "unit_price",
    "discount_percent",
    "discount_amount",
)
StoredLine = Sequence[Any]
# The same for each rate of the stored totals' vat_by_rate (documents.lines.Totals.as_dict).
VAT_FIELDS = ("rate", "base", "vat")
StoredRate = Sequence[Any]


def line_net(line: StoredLine) -> Decimal:
    """The net of a stored item line (LINE_FIELDS), as documents.lines computes it (france.md §3.2)."""
    _kind, _rate, _product, quantity, unit_price, discount_percent, discount_amount = line
    exact = Decimal(quantity or 0) * Decimal(unit_price or 0)
    if discount_percent not in (None, ""):
        return money.cents(exact * (100 - Decimal(discount_percent)) / 100)
    if discount_amount not in (None, ""):
        return money.cents(exact - Decimal(discount_amount))
    return money.cents(exact)


@functools.lru_cache(maxsize=128)
def rate_key(rate: Any) -> str:
    """A VAT rate as the totals store it ("5.50"); cached, a document has only a few rates."""
    return f"{Decimal(rate):.2f}"


# -- goods or services -----------------------------------------------------------------------------


def nature_of_account(number: str) -> str | None:
    """Goods or services from a revenue account's PCG class; None when the class does not say."""
    if number.startswith(GOODS_ACCOUNTS):
        return GOODS
    if number.startswith(SERVICES_ACCOUNTS):
        return SERVICES
    return None


def category_natures(chart: ChartOfAccounts) -> dict[str, str]:
    """The product categories whose own revenue account tells goods from services."""
    out = {}
    for category, account in chart.revenue_by_category.items():
        nature = nature_of_account(account.number)
        if nature is not None:
            out[category] = nature
    return out


def document_nature(operation_category: str | None) -> str:
    """The nature of a line nothing else tells: the document's, "mixed" counting as goods."""
    return SERVICES if operation_category == SERVICES else GOODS


def may_hold(vat_on_debits: bool | None, operation_category: str | None, natures: dict[str, str]) -> bool:
    """Whether a document can have VAT on hold at all (a cheap test before reading its lines)."""
    if vat_on_debits:
        return False
    return document_nature(operation_category) == SERVICES or SERVICES in natures.values()


# The item lines of a document at one VAT rate, grouped by (revenue account, goods or services) in
# the order they come; the FEC groups them once for its revenue lines and for the VAT on hold.
LineGroups = dict[tuple[Any, str], list[StoredLine]]


def group_net(group: list[StoredLine]) -> Decimal:
    return sum((line_net(line) for line in group), ZERO)


def held_by_rate(
    vat_by_rate: Sequence[StoredRate],
    lines_by_rate: dict[str, LineGroups],
    operation_category: str | None,
    vat_on_debits: bool | None,
    natures: dict[str, str],
) -> dict[str, Decimal]:
    """The VAT of a document's services, per rate ("20.00"), when the seller had no debits
    option; the rest of each rate's VAT is due at invoicing. `lines_by_rate`: its item lines per
    rate, each line's nature being its category's or else the document's (`document_nature`)."""
    if not may_hold(vat_on_debits, operation_category, natures):
        return {}
    default = document_nature(operation_category)
    out: dict[str, Decimal] = {}
    for raw_rate, _base, vat in vat_by_rate:
        amount = Decimal(vat)
        if not amount:
            continue
        rate = rate_key(raw_rate)
        groups = lines_by_rate.get(rate)
        kinds = {nature for _account, nature in groups} if groups else {default}
        if len(kinds) == 1:  # one nature at this rate: no need for the nets
            held = amount if SERVICES in kinds else ZERO
        else:
            assert groups is not None
            nets: dict[str, Decimal] = {}
            for (_account, nature), group in groups.items():
                nets[nature] = nets.get(nature, ZERO) + group_net(group)
            held = share_out(amount, nets)[SERVICES]
        if held:
            out[rate] = held
    return out


def held_part(amount: Decimal, vat: Decimal, held: Decimal) -> Decimal:
    """The part of `amount` (VAT of one rate) on hold, in the proportion `held` is of `vat`."""
    if not held or not amount:
        return ZERO
    return share_out(amount, {"due": vat - held, "held": held})["held"]


# -- moving it to 44571 ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CreditNote:
    """A credit note in an invoice's history: its services VAT per rate and its total."""

    id: int
    wanted: dict[str, Decimal]
    gross: Decimal


@dataclass(frozen=True)
class Allocation:
    """A payment's allocation to the invoice."""

    payment_id: int
    amount: Decimal


@dataclass
class Settlement:
    """What the bank and sales entries book for VAT on hold: per (payment, invoice), the VAT
    moved to 44571 per rate; per credit note, the VAT it takes back from the on-hold account."""

    moved: dict[tuple[int, int], dict[str, Decimal]]
    taken_back: dict[int, dict[str, Decimal]]


def settle(
    invoice_id: int,
    on_hold: dict[str, Decimal],
    due: Decimal,
    history: Iterable[CreditNote | Allocation],
    into: Settlement,
) -> None:
    """Walk an invoice's credit notes and payments in the order of the books (see the module
    docstring), from its VAT on hold per rate and what its sales entry has the client owe."""
    left = {rate: value for rate, value in on_hold.items() if value}
    for event in history:
        if isinstance(event, CreditNote):
            taken: dict[str, Decimal] = {}
            for rate, wanted in event.wanted.items():
                value = min(wanted, max(left.get(rate, ZERO), ZERO))
                if value > 0:
                    taken[rate] = value
                    left[rate] -= value
            into.taken_back[event.id] = taken
            due -= event.gross
            continue
        still = sum((v for v in left.values() if v > 0), ZERO)
        if still <= 0:
            moved = ZERO
        elif event.amount >= due:  # this payment settles the invoice: the rest of the VAT
            moved = still
        else:
            moved = min(money.cents(still * event.amount / due), still)
        due -= event.amount
        if not moved:
            continue
        parts = share_out(moved, {rate: v for rate, v in left.items() if v > 0})
        for rate, value in parts.items():
            left[rate] -= value
        into.moved[(event.payment_id, invoice_id)] = {r: v for r, v in parts.items() if v}
