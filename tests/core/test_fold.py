"""`core.text.fold` and its SQL twin `carnet_fold` (core.search.folded) fold names alike."""

from __future__ import annotations

import pytest
from sqlalchemy import literal, select

from carnet.core.search import folded
from carnet.core.text import fold, search_tokens

NAMES = [
    ("Société Générale", "societe generale"),
    ("ÉCOLE Saint-Étienne", "ecole saint-etienne"),
    ("Œuvre sociale de Noël", "oeuvre sociale de noel"),
    ("cœur", "coeur"),
    ("Lætitia Çelik", "laetitia celik"),
    ("Ñandú Ångström", "nandu angstrom"),
    ("acme", "acme"),
]


@pytest.mark.parametrize(("name", "expected"), NAMES)
def test_fold_in_python_and_in_sql_agree(db, name, expected):
    assert fold(name) == expected
    assert db.scalar(select(folded(literal(name)))) == expected


def test_a_typed_query_folds_to_what_the_index_holds():
    assert search_tokens("ŒUVRE Noël") == ["oeuvre", "noel"]
