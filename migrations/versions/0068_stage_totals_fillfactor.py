"""PostgreSQL: leave half of every deal_stage_totals page free (fillfactor 50).

Each deal write updates one or two of these few hundred rows, always in their sums, never in their
key: with room on the page, PostgreSQL writes the new version beside the old one (a HOT update) and
prunes the old ones as it goes, without touching the index and without waiting for a VACUUM. Packed
pages (the default, 100) made every update a new index entry and a dead row left for autovacuum: on
a server where it is off or behind, a demo load of 300,000 deals left 242,586 dead rows behind 572
live ones and the board's totals query read them all (28 ms instead of 0.2 ms).

Revision ID: 0068_stage_totals_fillfactor
Revises: 0067_search_pending_fold
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0068_stage_totals_fillfactor"
down_revision: str | None = "0067_search_pending_fold"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE deal_stage_totals SET (fillfactor = 50)")
        # The setting applies to pages written from now on: rewrite the table (a few hundred
        # rows, whatever dead ones it carries) so that it holds for every page at once. CLUSTER,
        # unlike VACUUM FULL, may run inside the migration's transaction.
        op.execute("CLUSTER deal_stage_totals USING pk_deal_stage_totals")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE deal_stage_totals RESET (fillfactor)")
