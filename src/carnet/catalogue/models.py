from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Boolean, Index, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from carnet.core.db import Base, IdMixin, Money, TimestampMixin, VersionedMixin


class Product(IdMixin, TimestampMixin, VersionedMixin, Base):
    """A product or service of the catalogue: what a quote or invoice line can start from."""

    __tablename__ = "products"
    __table_args__ = (Index("ix_products_active_name", "active", "name"),)

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(String(60), unique=True)
    unit: Mapped[str | None] = mapped_column(String(20))
    unit_price: Mapped[Decimal] = mapped_column(Money)  # excl. VAT
    vat_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    vat_exemption_reason: Mapped[str | None] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(String(80), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    recurring: Mapped[bool] = mapped_column(Boolean, default=False)
