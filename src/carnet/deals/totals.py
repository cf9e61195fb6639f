"""Stored per-stage totals of the pipeline board: the deal count, total amount and weighted total of
each stage, read from deal_stage_totals instead of being aggregated over every deal of the pipeline
at each request.

Granularity: a row per (pipeline, stage, department, owner). The visibility filter
(core.permissions.visible) decides on a record's owner and department alone — there is no team
membership, share or per-record grant — so the board answers every user (admin, manager, sales,
`own`, `department` or `all` scope) from these rows through the same clause, applied to the two
key columns. It falls back to the live aggregate only for the board filters the key cannot
answer: a search (`q`), a tag, created/updated since, or a filter on anything but the owner or the
department (an amount range, a custom field...).

Contents, as the board computed them live: every deal whatever its status (the board totals its
won and lost columns too) and its currency (only euros are accepted, and the board has always added
amounts as they are); the weighted total is amount × the deal's own probability / 100, and a deal
without a probability of its own is weighted by its stage's probability as it is when the board is
read, hence `unweighted_amount`, kept apart.

Upkeep: triggers on `deals` (migration 0065) apply every change with an atomic
INSERT ... ON CONFLICT DO UPDATE SET n = n + delta in the writing transaction, whatever wrote it
(the service, the set-based UPDATE of a stage's probability, bulk inserts, foreign keys setting a
deleted user's or department's id to NULL). A second writer of the same key waits for the first
to commit and adds to its result; on PostgreSQL one statement applies its keys in key order, so a
move from A to B and one from B to A cannot deadlock on them. `recompute` (run by `carnet
maintenance`) compares the rows with the live aggregate, reports the keys that drifted (0 unless
something bypassed the triggers) and rebuilds the table if any did.

PostgreSQL keeps the sums as exact NUMERIC. SQLite has no decimal arithmetic: its sums are binary
floating point, read back rounded to the column's scale (2 decimals, 4 for the weighted total),
which absorbs the rounding error of realistic totals; `carnet maintenance` resets them anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import Session

from carnet.core import housekeeping, permissions
from carnet.core.context import Actor
from carnet.core.listing import Listing, ListParams
from carnet.deals.models import Deal, DealStageTotal
from carnet.deals.moves import RECORD_TYPE

T = DealStageTotal
KEY = (T.pipeline_id, T.stage_id, T.department_id, T.owner_id)


def _none(column: Any) -> ColumnElement[Any]:
    """The key's 0 read back as NULL, so the visibility clause and the filters see exactly what
    they would see on the deals themselves."""
    return func.nullif(column, 0, type_=Integer)


# The board filters the stored rows can answer, with the same syntax and errors as on deals.
LISTING = Listing(
    model=T,
    record_type=RECORD_TYPE,
    fields={"owner_id": _none(T.owner_id), "department_id": _none(T.department_id)},
    sortable=set(),
)
_OPERATORS = ("", "in", "isnull")


@dataclass
class StageSums:
    """Exact sums of one stage: amounts in euros, the weighted one with up to 4 decimals."""

    count: int = 0
    amount: Decimal = Decimal(0)
    weighted: Decimal = Decimal(0)


def answers(params: ListParams) -> bool:
    """Whether the stored totals can answer a board read with these filters."""
    if params.q or params.tag or params.created_since or params.updated_since:
        return False
    for key in params.filters:
        name, _, op = key.partition("__")
        if name not in LISTING.fields or op not in _OPERATORS:
            return False
    return True


def stored(
    db: Session, actor: Actor, pipeline_id: int, stage_probability: dict[int, int], params: ListParams
) -> dict[int, StageSums] | None:
    """Per stage id, the sums of the rows of `pipeline_id` that `actor` may see and `params`
    selects; None when `params` holds a filter only the deals themselves can answer."""
    if not answers(params):
        return None
    visible = permissions.visible(db, actor, RECORD_TYPE, _none(T.owner_id), _none(T.department_id))
    stmt = (
        select(
            T.stage_id,
            func.sum(T.deal_count),
            func.sum(T.amount_total),
            func.sum(T.weighted_total),
            func.sum(T.unweighted_amount),
        )
        .where(T.pipeline_id == pipeline_id, visible)
        .group_by(T.stage_id)
    )
    out: dict[int, StageSums] = {}
    for stage_id, count, amount, weighted, unweighted in db.execute(LISTING.apply_filters(stmt, params)):
        by_stage = Decimal(unweighted or 0) * stage_probability.get(stage_id, 0) / 100
        out[stage_id] = StageSums(int(count or 0), Decimal(amount or 0), Decimal(weighted or 0) + by_stage)
    return out


# -- recompute -------------------------------------------------------------------------------------


def _live() -> Any:
    """The rows the table should hold, aggregated from the deals (the same rule as the triggers)."""
    department = func.coalesce(Deal.department_id, 0)
    owner = func.coalesce(Deal.owner_id, 0)
    # 100.0, not 100: SQLite stores 1000.00 as the integer 1000 and would divide as integers.
    weighted = Deal.amount * Deal.probability / literal_column("100.0")
    return select(
        Deal.pipeline_id,
        Deal.stage_id,
        department,
        owner,
        func.count(),
        func.coalesce(func.sum(Deal.amount), 0),
        func.coalesce(func.sum(weighted), 0),
        func.coalesce(func.sum(Deal.amount).filter(Deal.probability.is_(None)), 0),
    ).group_by(Deal.pipeline_id, Deal.stage_id, department, owner)


def drifted(db: Session) -> int:
    """How many keys hold sums that differ from the live aggregate (a missing or extra row counts).
    One statement, so PostgreSQL compares both sides in one snapshot; the roundings leave out
    SQLite's floating-point noise, below the columns' scale."""
    stored_rows = select(*KEY, -T.deal_count, -T.amount_total, -T.weighted_total, -T.unweighted_amount)
    both = union_all(_live(), stored_rows).subquery()
    key, (count, amount, weighted, unweighted) = list(both.c)[:4], list(both.c)[4:]
    differing = (
        select(*key)
        .group_by(*key)
        .having(
            or_(
                func.sum(count) != 0,
                func.round(func.sum(amount), 2) != 0,
                func.round(func.sum(weighted), 4) != 0,
                func.round(func.sum(unweighted), 2) != 0,
            )
        )
        .subquery()
    )
    return db.scalar(select(func.count()).select_from(differing)) or 0


def recompute(db: Session, dry_run: bool) -> int:
    """The number of drifted keys; unless `dry_run`, rebuild the table from the deals when any
    drifted, and drop the empty rows that deleted stages and departed owners leave behind.

    The rebuild holds an EXCLUSIVE lock on PostgreSQL: boards still read, deal writers wait at their
    trigger, so none of their changes falls between the aggregate and the rows written (SQLite
    write sessions hold the database's write lock from their first statement)."""
    if dry_run:
        return drifted(db)
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("LOCK TABLE deal_stage_totals IN EXCLUSIVE MODE"))
    found = drifted(db)
    if found:
        db.execute(delete(T))
        db.execute(insert(T).from_select([c.key for c in T.__table__.columns], _live()))
    else:
        db.execute(
            delete(T).where(
                T.deal_count == 0,
                func.round(T.amount_total, 2) == 0,
                func.round(T.weighted_total, 4) == 0,
                func.round(T.unweighted_amount, 2) == 0,
            )
        )
    db.commit()
    return found


housekeeping.register_recompute("deal stage totals", lambda db, settings, dry_run: recompute(db, dry_run))
