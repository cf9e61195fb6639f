"""Accent-insensitive record pickers: `carnet_fold(text)`, SQL's twin of `carnet.core.text.fold`
(lower case, no accents), so a project or quote picker finds "Société" when "societe" is typed.

PostgreSQL: a SQL function over the `unaccent` extension, declared IMMUTABLE (it calls unaccent
with its dictionary named, which does not depend on the search path), so that an expression index
can use it: organisations' folded names, for the pickers' "client name starts with". SQLite: the
application registers the Python function on every connection (carnet.core.db); nothing to create.

Revision ID: 0066_search_fold
Revises: 0065_deal_stage_totals
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0066_search_fold"
down_revision: str | None = "0065_deal_stage_totals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSTGRES_UP = [
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    "CREATE OR REPLACE FUNCTION carnet_fold(value text) RETURNS text "
    "LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT "
    "AS $$ SELECT lower(public.unaccent('public.unaccent'::regdictionary, value)) $$",
    "CREATE INDEX ix_organisations_folded_name ON organisations (carnet_fold(name) text_pattern_ops)",
]
POSTGRES_DOWN = [
    "DROP INDEX IF EXISTS ix_organisations_folded_name",
    "DROP FUNCTION IF EXISTS carnet_fold(text)",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for sql in POSTGRES_UP:
            op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for sql in POSTGRES_DOWN:
            op.execute(sql)
