"""Search on PostgreSQL: the vocabulary of the search documents, for typo tolerance.

`search_words` holds the distinct words (runs of 4 to 40 letters of the folded text) of every
search document, with a trigram index (pg_trgm, created by migration 0002). When a search finds
nothing, `carnet.core.search` replaces each word of the query it does not know by the known word
most like it ("dupond": "dupont", "generalle": "generale") and searches again.

A trigram index on the documents themselves (dropped by migration 0066) would answer the same
question by comparing the query with a million titles: 44 to 375 ms per search at the large demo
size; against the vocabulary (thousands to tens of thousands of words) it takes milliseconds, and
the corrected search uses the full-text index as any other.

No unique constraint: two transactions adding the same new word store it twice rather than one
waiting for the other. The table exists on both databases (the model declares it, so `carnet
restore` knows it); only PostgreSQL fills it and has the trigram index: SQLite searches with FTS5.

Revision ID: 0069_search_words
Revises: 0068_stage_totals_fillfactor
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0069_search_words"
down_revision: str | None = "0068_stage_totals_fillfactor"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("search_words", sa.Column("word", sa.String(40), nullable=False))
    op.create_index("ix_search_words_word", "search_words", ["word"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE INDEX ix_search_words_trgm ON search_words USING gin (word gin_trgm_ops)")
        # the words of the documents already there (as carnet.core.search.add_missing_words adds them)
        op.execute(
            "INSERT INTO search_words (word) SELECT DISTINCT w FROM search_documents, "
            "regexp_split_to_table(body, '[^a-z]+') AS w WHERE length(w) BETWEEN 4 AND 40"
        )


def downgrade() -> None:
    op.drop_table("search_words")
