"""Finance settings: the chart-of-accounts mapping used by the FEC export and the column layouts
of the CSV exports. Both are configuration kept as data (one row per account purpose and key, one
row per export kind); the defaults live in `service.py` and apply while no row overrides them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from carnet.core import clock
from carnet.core.db import Base, IdMixin, JSONType

# What an account is used for in the sales and bank journals (france.md §5.4): VAT_ON_HOLD is the
# VAT collected on services not yet paid (no debits option), moved to VAT as the client pays.
CUSTOMER, BANK, DEPOSIT, REVENUE, VAT = "customer", "bank", "deposit", "revenue", "vat"
VAT_ON_HOLD = "vat_on_hold"
PURPOSES = (CUSTOMER, BANK, DEPOSIT, REVENUE, VAT, VAT_ON_HOLD)


class AccountMapping(IdMixin, Base):
    """One general-ledger account: `purpose` with a `key` — the product category for revenue, the
    VAT rate ("20.00") for VAT, empty for the default of the purpose."""

    __tablename__ = "finance_accounts"
    __table_args__ = (UniqueConstraint("purpose", "key"),)

    purpose: Mapped[str] = mapped_column(String(12))
    key: Mapped[str] = mapped_column(String(80), default="")
    number: Mapped[str] = mapped_column(String(20))
    label: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)
    updated_by_id: Mapped[int | None] = mapped_column(Integer)


class ExportLayout(IdMixin, Base):
    """The chosen, renamed and ordered columns of one CSV export kind (invoices, payments,
    customers): a list of {"field": ..., "header": ...}."""

    __tablename__ = "finance_export_layouts"

    kind: Mapped[str] = mapped_column(String(20), unique=True)
    columns: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)
    updated_by_id: Mapped[int | None] = mapped_column(Integer)
