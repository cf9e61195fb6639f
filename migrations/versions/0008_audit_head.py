"""The audit chain head: the last entry's seq and hash, so `carnet audit verify` sees entries cut
from the end of the chain.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21 08:40:21.189084
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    # An existing trail: its current last entry becomes the head.
    op.execute(
        "INSERT INTO audit_head (id, seq, entry_hash) "
        "SELECT 1, seq, entry_hash FROM audit_entries ORDER BY seq DESC LIMIT 1"
    )


def downgrade() -> None:
    op.drop_table("audit_head")
