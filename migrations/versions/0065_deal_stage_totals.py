"""Stored per-stage totals of the pipeline board (deal_stage_totals), filled from the existing deals
and kept by triggers on `deals` from then on (see carnet.deals.totals for the design).

Triggers rather than Python: every statement that changes a deal keeps the totals in its own
transaction, whoever runs it — the deals service, the set-based UPDATE that makes deals follow a
stage's new probability, the demo loader's bulk inserts, and the foreign keys that set a deleted
user's or department's records to NULL, which no Python hook ever sees.

- PostgreSQL: one statement-level trigger per event, with transition tables: the rows a statement
  touched are summed per key and applied with one INSERT ... ON CONFLICT DO UPDATE, in key order
  (two statements touching the same keys lock them in the same order, so they cannot deadlock on
  them), and a bulk insert of 5,000 deals costs one upsert per key, not 5,000.
- SQLite: row-level triggers (it has no others) doing the same upsert; its writers are serialised
  by the database lock anyway. A later migration that rebuilds `deals` in batch mode on SQLite
  ("move and copy") drops these triggers and must create them again (the deals tests would fail).

A frozen copy of the rule as it was when this migration was written: amounts of every status
(the board totals won and lost columns too), whatever the currency (only EUR is accepted), the
weighted total from the deal's own probability; deals without one are weighted by the stage's
probability when the board is read.

Revision ID: 0065_deal_stage_totals
Revises: 0062
Create Date: 2026-11-24 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0065_deal_stage_totals"
down_revision: str | None = "0062"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = ("pipeline_id", "stage_id", "department_id", "owner_id")
SUMS = ("deal_count", "amount_total", "weighted_total", "unweighted_amount")
# Every column whose change moves a deal to another key or changes its amounts.
WATCHED = ("pipeline_id", "stage_id", "department_id", "owner_id", "amount", "probability")
COLUMNS = ", ".join(KEY + SUMS)
ADD = ", ".join(f"{name} = deal_stage_totals.{name} + excluded.{name}" for name in SUMS)
CONFLICT = f"ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {ADD}"


def _signed(row: str, sign: str) -> str:
    """The key and the signed sums of one deal (`row`: a table alias, or NEW / OLD)."""
    return (
        f"{row}.pipeline_id, {row}.stage_id, coalesce({row}.department_id, 0), "
        f"coalesce({row}.owner_id, 0), {sign}1, {sign}coalesce({row}.amount, 0), "
        # 100.0, not 100: SQLite stores 1000.00 as the integer 1000 and would divide as integers
        f"{sign}coalesce({row}.amount * {row}.probability / 100.0, 0), "
        f"{sign}(CASE WHEN {row}.probability IS NULL THEN coalesce({row}.amount, 0) ELSE 0 END)"
    )


FILL = (
    f"INSERT INTO deal_stage_totals ({COLUMNS}) "
    "SELECT pipeline_id, stage_id, coalesce(department_id, 0), coalesce(owner_id, 0), count(*), "
    "coalesce(sum(amount), 0), coalesce(sum(amount * probability / 100.0), 0), "
    "coalesce(sum(CASE WHEN probability IS NULL THEN amount END), 0) "
    "FROM deals GROUP BY pipeline_id, stage_id, coalesce(department_id, 0), coalesce(owner_id, 0)"
)

# -- PostgreSQL ------------------------------------------------------------------------------------

_CHANGED = " OR ".join(f"o.{c} IS DISTINCT FROM n.{c}" for c in WATCHED)
_PG_SOURCES = {
    "INSERT": f"SELECT {_signed('n', '')} FROM new_rows n",
    "DELETE": f"SELECT {_signed('o', '-')} FROM old_rows o",
    "UPDATE": (
        f"SELECT {_signed('n', '')} FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE {_CHANGED} "
        f"UNION ALL SELECT {_signed('o', '-')} FROM old_rows o JOIN new_rows n ON n.id = o.id "
        f"WHERE {_CHANGED}"
    ),
}


def _pg_upsert(source: str) -> str:
    sums = ", ".join(f"sum({name})" for name in SUMS)
    nonzero = " OR ".join(f"sum({name}) <> 0" for name in SUMS)
    keys = ", ".join(KEY)
    return (
        f"INSERT INTO deal_stage_totals ({COLUMNS}) SELECT {keys}, {sums} "
        f"FROM ({source}) AS d ({COLUMNS}) GROUP BY {keys} HAVING {nonzero} ORDER BY {keys} {CONFLICT}"
    )


PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION deal_stage_totals_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_pg_upsert(_PG_SOURCES["INSERT"])};
    ELSIF TG_OP = 'DELETE' THEN
        {_pg_upsert(_PG_SOURCES["DELETE"])};
    ELSE
        {_pg_upsert(_PG_SOURCES["UPDATE"])};
    END IF;
    RETURN NULL;
END
$$
"""
PG_TRIGGERS = [
    "CREATE TRIGGER deals_stage_totals_insert AFTER INSERT ON deals "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION deal_stage_totals_apply()",
    "CREATE TRIGGER deals_stage_totals_update AFTER UPDATE ON deals "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION deal_stage_totals_apply()",
    "CREATE TRIGGER deals_stage_totals_delete AFTER DELETE ON deals "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION deal_stage_totals_apply()",
]

# -- SQLite ----------------------------------------------------------------------------------------


def _sqlite_upsert(row: str, sign: str) -> str:
    return f"INSERT INTO deal_stage_totals ({COLUMNS}) VALUES ({_signed(row, sign)}) {CONFLICT};"


SQLITE_TRIGGERS = [
    f"CREATE TRIGGER deals_stage_totals_insert AFTER INSERT ON deals BEGIN {_sqlite_upsert('NEW', '')} END",
    f"CREATE TRIGGER deals_stage_totals_update AFTER UPDATE OF {', '.join(WATCHED)} ON deals "
    f"WHEN {' OR '.join(f'OLD.{c} IS NOT NEW.{c}' for c in WATCHED)} "
    f"BEGIN {_sqlite_upsert('OLD', '-')} {_sqlite_upsert('NEW', '')} END",
    f"CREATE TRIGGER deals_stage_totals_delete AFTER DELETE ON deals BEGIN {_sqlite_upsert('OLD', '-')} END",
]
TRIGGER_NAMES = ("deals_stage_totals_insert", "deals_stage_totals_update", "deals_stage_totals_delete")


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        # No deal changes between the fill and the triggers (readers go on).
        op.execute("LOCK TABLE deals IN SHARE ROW EXCLUSIVE MODE")
    op.create_table(
        "deal_stage_totals",
        sa.Column("pipeline_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("stage_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("department_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("owner_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("deal_count", sa.Integer(), nullable=False),
        sa.Column("amount_total", sa.Numeric(precision=20, scale=2), nullable=False),
        sa.Column("weighted_total", sa.Numeric(precision=22, scale=4), nullable=False),
        sa.Column("unweighted_amount", sa.Numeric(precision=20, scale=2), nullable=False),
        sa.PrimaryKeyConstraint(*KEY, name=op.f("pk_deal_stage_totals")),
    )
    op.execute(FILL)
    if postgres:
        op.execute(PG_FUNCTION)
        for sql in PG_TRIGGERS:
            op.execute(sql)
    else:
        for sql in SQLITE_TRIGGERS:
            op.execute(sql)


def downgrade() -> None:
    for name in TRIGGER_NAMES:
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON deals")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS deal_stage_totals_apply()")
    op.drop_table("deal_stage_totals")
