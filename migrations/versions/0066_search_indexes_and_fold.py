"""Search on PostgreSQL: a bounded GIN pending list, no unused trigram index; and accent-insensitive
record pickers on both databases.

- The tsvector GIN index (migration 0009) keeps recent entries in an unsorted "pending list" until
  a vacuum merges them, up to gin_pending_list_limit (4 MB by default), and every search reads the
  whole list: 450 pages, 2 to 10 ms per search after a bulk load, whatever the term. A 256 kB
  limit bounds that to 32 pages; writers merge more often, in small batches. The list is merged now.
- The trigram index on body (migration 0002) answers no query since the prefix index (0011); it
  costs every write of a search document a hundred trigram entries, and 300 MB at the large size.
- `carnet_fold(text)`, SQL's twin of `carnet.core.text.fold` (lower case, no accents), so a project
  or quote picker finds "Société" when "societe" is typed. PostgreSQL: a SQL function over the
  `unaccent` extension, declared IMMUTABLE (it calls unaccent with its dictionary named, which does
  not depend on the search path), so that an expression index can use it: organisations' folded
  names, for the pickers' "client name starts with". SQLite: the application registers the Python
  function on every connection (carnet.core.db); nothing to create.

Revision ID: 0066_search_indexes_and_fold
Revises: 0065_deal_stage_totals
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0066_search_indexes_and_fold"
down_revision: str | None = "0065_deal_stage_totals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSTGRES_UP = [
    "ALTER INDEX ix_search_documents_tsv_stored SET (gin_pending_list_limit = 256)",
    "SELECT gin_clean_pending_list('ix_search_documents_tsv_stored')",
    "DROP INDEX IF EXISTS ix_search_documents_trgm",
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    "CREATE OR REPLACE FUNCTION carnet_fold(value text) RETURNS text "
    "LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT "
    "AS $$ SELECT lower(public.unaccent('public.unaccent'::regdictionary, value)) $$",
    "CREATE INDEX ix_organisations_folded_name ON organisations (carnet_fold(name) text_pattern_ops)",
]
POSTGRES_DOWN = [
    "DROP INDEX IF EXISTS ix_organisations_folded_name",
    "DROP FUNCTION IF EXISTS carnet_fold(text)",
    "CREATE INDEX IF NOT EXISTS ix_search_documents_trgm ON search_documents USING gin (body gin_trgm_ops)",
    "ALTER INDEX ix_search_documents_tsv_stored RESET (gin_pending_list_limit)",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for sql in POSTGRES_UP:
            op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for sql in POSTGRES_DOWN:
            op.execute(sql)
