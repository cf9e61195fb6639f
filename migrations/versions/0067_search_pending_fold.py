"""Search on PostgreSQL: a bounded GIN pending list; and accent-insensitive record pickers on both
databases.

- The tsvector GIN index (migration 0009) keeps recent entries in an unsorted "pending list" until
  a vacuum merges them, up to gin_pending_list_limit (4 MB by default), and every search reads the
  whole list: 450 pages, 2 to 10 ms per search after a bulk load, whatever the term. A 256 kB
  limit bounds that to 32 pages; writers merge more often, in small batches. The list is merged now.
- `carnet_fold(text)`, SQL's twin of `carnet.core.text.fold` (lower case, no accents), so a project
  or quote picker finds "Société" when "societe" is typed. PostgreSQL: a SQL function over the
  `unaccent` extension, declared IMMUTABLE (it calls unaccent with its dictionary named, which does
  not depend on the search path), so that an expression index can use it: organisations' folded
  names, for the pickers' "client name starts with". SQLite: the application registers the Python
  function on every connection (carnet.core.db); nothing to create.

Revision ID: 0067_search_pending_fold
Revises: 0066_drop_search_trigram
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0067_search_pending_fold"
down_revision: str | None = "0066_drop_search_trigram"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSTGRES_UP = [
    "ALTER INDEX ix_search_documents_tsv_stored SET (gin_pending_list_limit = 256)",
    "SELECT gin_clean_pending_list('ix_search_documents_tsv_stored')",
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    "CREATE OR REPLACE FUNCTION carnet_fold(value text) RETURNS text "
    "LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT "
    "AS $$ SELECT lower(public.unaccent('public.unaccent'::regdictionary, value)) $$",
    "CREATE INDEX ix_organisations_folded_name ON organisations (carnet_fold(name) text_pattern_ops)",
]
POSTGRES_DOWN = [
    "DROP INDEX IF EXISTS ix_organisations_folded_name",
    "DROP FUNCTION IF EXISTS carnet_fold(text)",
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
