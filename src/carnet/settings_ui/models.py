from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from carnet.core import clock
from carnet.core.db import Base, IdMixin, JSONType


class SavedView(IdMixin, Base):
    """A user's named filters, sort and columns for one list (the query string of the list page)."""

    __tablename__ = "saved_views"
    __table_args__ = (UniqueConstraint("user_id", "record_type", "name"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    record_type: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(120))
    query: Mapped[str] = mapped_column(String(2000), default="")
    columns: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
