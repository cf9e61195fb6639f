"""Finance: the chart-of-accounts mapping of the FEC export and the CSV export layouts; built-in
roles get the permissions of the finance module.

Revision ID: 0055
Revises: 0051
Create Date: 2026-11-21 12:24:48.650072
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import carnet.core.db

revision: str = "0055"
down_revision: str | None = "0051"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "finance_accounts",
        sa.Column("purpose", sa.String(length=12), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("updated_at", carnet.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finance_accounts")),
        sa.UniqueConstraint("purpose", "key", name=op.f("uq_finance_accounts_purpose_key")),
    )
    op.create_table(
        "finance_export_layouts",
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column(
            "columns",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", carnet.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finance_export_layouts")),
        sa.UniqueConstraint("kind", name=op.f("uq_finance_export_layouts_kind")),
    )
    _grant_builtin_roles()


# What accounts/roles.py gives the built-in roles for the finance module, added to existing
# installations (new ones get the whole list from ensure_builtin_roles).
GRANTS = {
    "manager": ["finance:read"],
    "finance": ["finance:read", "finance:update", "finance:export"],
    "read-only": ["finance:read"],
}


def _grant_builtin_roles() -> None:
    roles = sa.table(
        "roles",
        sa.column("id", sa.Integer),
        sa.column("name", sa.String),
        sa.column("builtin", sa.Boolean),
        sa.column("permissions", sa.JSON),
    )
    conn = op.get_bind()
    for row in conn.execute(
        sa.select(roles.c.id, roles.c.name, roles.c.permissions).where(roles.c.builtin.is_(True))
    ):
        extra = GRANTS.get(row.name)
        if not extra:
            continue
        current = list(row.permissions or [])
        merged = current + [p for p in extra if p not in current]
        if merged != current:
            conn.execute(sa.update(roles).where(roles.c.id == row.id).values(permissions=merged))


def downgrade() -> None:
    op.drop_table("finance_export_layouts")
    op.drop_table("finance_accounts")
