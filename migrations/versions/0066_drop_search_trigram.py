"""Search on PostgreSQL: drop the trigram GIN index on search_documents.body (migration 0002). No
query uses it: matching goes through the stored tsvector's GIN index (0009) and "starts with"
through the btree on left(body, 100) (0011); the ordering's LIKEs run on rows already found.
Keeping it up to date was the largest part of writing a document: an import of 20,000 contacts
spent about as long maintaining it as every other index and the table together.

Revision ID: 0066_drop_search_trigram
Revises: 0065_deal_stage_totals
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0066_drop_search_trigram"
down_revision: str | None = "0065_deal_stage_totals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_search_documents_trgm")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE INDEX ix_search_documents_trgm ON search_documents USING gin (body gin_trgm_ops)")
