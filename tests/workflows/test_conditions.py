"""Every condition operator, and nested all/any groups."""

from __future__ import annotations

import pytest

from carnet.workflows.context import evaluate

VARIABLES = {
    "deal": {
        "amount": "60000.00",
        "title": "Offre Premium",
        "tags": ["vip", "salon"],
        "source": None,
        "expected_close_date": "2026-04-01",
        "owner_id": 7,
        "cf": {"segment": "PME", "score": 12},
    },
    "trigger": {"changes": {"amount": {"old": "10.00", "new": "60000.00"}}},
}


def leaf(field, op, value=None):
    return {"field": field, "op": op, "value": value}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (leaf("title", "eq", "Offre Premium"), True),
        (leaf("amount", "eq", "60000"), True),  # numbers compare as numbers
        (leaf("owner_id", "eq", 8), False),
        (leaf("title", "ne", "Autre"), True),
        (leaf("amount", "ne", "60000.0"), False),
        (leaf("amount", "gt", "50000"), True),
        (leaf("amount", "gt", "60000"), False),
        (leaf("amount", "gte", "60000"), True),
        (leaf("amount", "lt", "100000"), True),
        (leaf("amount", "lte", "59999.99"), False),
        (leaf("expected_close_date", "lt", "2026-05-01"), True),  # ISO dates compare in order
        (leaf("expected_close_date", "gt", "2026-05-01"), False),
        (leaf("tags", "contains", "vip"), True),
        (leaf("title", "contains", "premium"), True),  # text: case-insensitive substring
        (leaf("tags", "not_contains", "froid"), True),
        (leaf("title", "not_contains", "Offre"), False),
        (leaf("cf.segment", "in", ["PME", "ETI"]), True),
        (leaf("cf.segment", "in", "GE, ETI"), False),
        (leaf("cf.segment", "not_in", "GE, ETI"), True),
        (leaf("source", "is_empty"), True),
        (leaf("cf.missing", "is_empty"), True),
        (leaf("title", "is_empty"), False),
        (leaf("tags", "is_not_empty"), True),
        (leaf("source", "is_not_empty"), False),
        (leaf("amount", "changed"), True),
        (leaf("title", "changed"), False),
        (leaf("changes.amount", "gt", "50000"), True),  # the new value of a change
        (leaf("cf.score", "gte", 12), True),
        (leaf("source", "gt", "1"), False),  # nothing compares greater with an empty value
    ],
)
def test_operator(condition, expected):
    assert evaluate(condition, VARIABLES, "deal") is expected


def test_nested_groups():
    group = {
        "all": [
            leaf("amount", "gt", "50000"),
            {
                "any": [
                    leaf("tags", "contains", "froid"),
                    {"all": [leaf("cf.segment", "eq", "PME"), leaf("source", "is_empty")]},
                ]
            },
        ]
    }
    assert evaluate(group, VARIABLES, "deal") is True
    group["all"][1]["any"][1]["all"][0]["value"] = "GE"
    assert evaluate(group, VARIABLES, "deal") is False
    assert evaluate(
        {"any": [leaf("title", "eq", "x"), leaf("title", "eq", "Offre Premium")]}, VARIABLES, "deal"
    )
