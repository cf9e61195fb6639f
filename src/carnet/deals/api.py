"""JSON routes for pipelines (with their stages and board) and deals."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from carnet.api.common import Page, body_dict, if_match_version, list_params, set_etag
from carnet.api.deps import ActorDep, DbDep, Requires
from carnet.api.exports import add_export_route
from carnet.deals import pipelines, service, transfer
from carnet.deals.schemas import (
    BoardRead,
    DealCreate,
    DealMove,
    DealRead,
    DealUpdate,
    PipelineCreate,
    PipelineRead,
    PipelineUpdate,
    StageCreate,
    StageHistoryRead,
    StageRead,
    StageUpdate,
)

router = APIRouter()
pipelines_router = APIRouter(prefix="/pipelines", tags=["pipelines"])
deals_router = APIRouter(prefix="/deals", tags=["deals"])


# -- pipelines ---------------------------------------------------------------------------------------


@pipelines_router.get("", response_model=Page[PipelineRead])
def list_pipelines(db: DbDep, actor: ActorDep, include_inactive: bool = False) -> dict[str, Any]:
    """Pipelines you can use (pipeline managers: all of them), with their stages in order."""
    rows = service.list_pipelines(db, actor, include_inactive)
    return {"items": pipelines.reads(db, rows), "next_cursor": None}


@pipelines_router.post("", status_code=201, response_model=PipelineRead)
def create_pipeline(body: PipelineCreate, db: DbDep, actor: ActorDep, response: Response) -> dict[str, Any]:
    """Without `stages`, the pipeline starts with Qualification, Proposal, Negotiation, Won, Lost."""
    data = body_dict(body)
    if body.stages is not None:
        data["stages"] = [s.model_dump(exclude_unset=True) for s in body.stages]
    pipeline = service.create_pipeline(db, actor, data)
    set_etag(response, pipeline)
    response.headers["Location"] = f"/api/v1/pipelines/{pipeline.id}"
    return pipelines.reads(db, [pipeline])[0]


@pipelines_router.get("/{pipeline_id}", response_model=PipelineRead)
def get_pipeline(pipeline_id: int, db: DbDep, actor: ActorDep, response: Response) -> dict[str, Any]:
    pipeline = service.get_pipeline(db, actor, pipeline_id)
    set_etag(response, pipeline)
    return pipelines.reads(db, [pipeline])[0]


@pipelines_router.patch("/{pipeline_id}", response_model=PipelineRead)
def update_pipeline(
    pipeline_id: int, body: PipelineUpdate, request: Request, db: DbDep, actor: ActorDep, response: Response
) -> dict[str, Any]:
    """Rename, tie to a department, mark as default or inactive; `stage_ids` reorders the stages."""
    pipeline = service.get_pipeline(db, actor, pipeline_id)
    pipeline = service.update_pipeline(db, actor, pipeline, body_dict(body), if_match_version(request))
    set_etag(response, pipeline)
    return pipelines.reads(db, [pipeline])[0]


@pipelines_router.delete("/{pipeline_id}", status_code=204)
def delete_pipeline(pipeline_id: int, request: Request, db: DbDep, actor: ActorDep) -> Response:
    """Only a pipeline without deals can be deleted (409 otherwise)."""
    pipeline = service.get_pipeline(db, actor, pipeline_id)
    service.delete_pipeline(db, actor, pipeline, if_match_version(request))
    return Response(status_code=204)


@pipelines_router.post("/{pipeline_id}/stages", status_code=201, response_model=StageRead)
def create_stage(pipeline_id: int, body: StageCreate, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    pipeline = service.get_pipeline(db, actor, pipeline_id)
    stage = service.create_stage(db, actor, pipeline, body_dict(body))
    return _stage_read(stage)


@pipelines_router.patch("/{pipeline_id}/stages/{stage_id}", response_model=StageRead)
def update_stage(
    pipeline_id: int, stage_id: int, body: StageUpdate, db: DbDep, actor: ActorDep
) -> dict[str, Any]:
    pipeline = service.get_pipeline(db, actor, pipeline_id)
    stage = pipelines.get_stage(db, pipeline, stage_id)
    stage = service.update_stage(db, actor, pipeline, stage, body_dict(body))
    return _stage_read(stage)


@pipelines_router.delete("/{pipeline_id}/stages/{stage_id}", status_code=204)
def delete_stage(
    pipeline_id: int, stage_id: int, db: DbDep, actor: ActorDep, target_stage_id: int | None = None
) -> Response:
    """A stage holding deals needs `target_stage_id`: a stage of the same kind to move them to."""
    pipeline = service.get_pipeline(db, actor, pipeline_id)
    stage = pipelines.get_stage(db, pipeline, stage_id)
    service.delete_stage(db, actor, pipeline, stage, target_stage_id)
    return Response(status_code=204)


@pipelines_router.get(
    "/{pipeline_id}/board", response_model=BoardRead, dependencies=[Depends(Requires("deals:read"))]
)
def get_board(pipeline_id: int, request: Request, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """One column per stage with your visible deals: count, total and weighted total (amount ×
    probability), `stale` when a deal sat longer than the stage's rotting days. Takes the deal list
    filters (`owner_id=`, `amount__gte=`...); `limit` caps the deals per column."""
    board = service.board(db, actor, pipeline_id, list_params(request))
    return board_read(db, board)


def _stage_read(stage: Any) -> dict[str, Any]:
    return {**pipelines.stage_snapshot(stage), "pipeline_id": stage.pipeline_id}


def board_read(db: Session, board: service.Board) -> dict[str, Any]:
    cards = [d for c in board.columns for d in c.deals]
    read_by_id = {r["id"]: r for r in service.read_values_many(db, cards)}
    columns = []
    for column in board.columns:
        columns.append(
            {
                "stage": _stage_read(column.stage),
                "count": column.count,
                "total_amount": f"{column.total:.2f}",
                "weighted_amount": f"{column.weighted:.2f}",
                "more": column.more,
                "deals": [
                    {
                        **read_by_id[d.id],
                        "stale": d.id in column.stale_days,
                        "stale_days": column.stale_days.get(d.id),
                    }
                    for d in column.deals
                ],
            }
        )
    return {
        "pipeline": pipelines.to_read(board.pipeline, [c.stage for c in board.columns]),
        "count": board.count,
        "total_amount": f"{board.total:.2f}",
        "weighted_amount": f"{board.weighted:.2f}",
        "columns": columns,
    }


# -- deals -------------------------------------------------------------------------------------------


@deals_router.get("", response_model=Page[DealRead], dependencies=[Depends(Requires("deals:read"))])
def list_deals(request: Request, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """List deals. Filters on every field (`pipeline_id=`, `stage_id=`, `status=open,won`,
    `organisation_id=`, `contact_id=`, `amount__gte=`, `expected_close_date__lte=`, `cf.key=`...),
    `sort=amount|-expected_close_date|...`, `limit`, `cursor`, `created_since`, `updated_since`,
    `tag`, `q` (title)."""
    rows, cursor = service.list_deals(db, actor, list_params(request))
    return {"items": service.read_values_many(db, rows), "next_cursor": cursor}


@deals_router.post("", status_code=201, response_model=DealRead)
def create_deal(body: DealCreate, db: DbDep, actor: ActorDep, response: Response) -> dict[str, Any]:
    """Without `stage_id`, the deal starts in the first open stage of `pipeline_id` (or of the
    default pipeline). A deal created in a lost stage needs `lost_reason`."""
    deal = service.create_deal(db, actor, body_dict(body))
    set_etag(response, deal)
    response.headers["Location"] = f"/api/v1/deals/{deal.id}"
    return service.read_values_many(db, [deal])[0]


add_export_route(deals_router, transfer.EXPORTER)


@deals_router.get("/{deal_id}", response_model=DealRead)
def get_deal(deal_id: int, db: DbDep, actor: ActorDep, response: Response) -> dict[str, Any]:
    deal = service.get_deal(db, actor, deal_id)
    set_etag(response, deal)
    return service.read_values_many(db, [deal])[0]


@deals_router.patch("/{deal_id}", response_model=DealRead)
def update_deal(
    deal_id: int, body: DealUpdate, request: Request, db: DbDep, actor: ActorDep, response: Response
) -> dict[str, Any]:
    """A new `stage_id` moves the deal (stage history, events); a lost stage needs `lost_reason`."""
    deal = service.get_deal(db, actor, deal_id)
    deal, read = service.update_deal_read(db, actor, deal, body_dict(body), if_match_version(request))
    set_etag(response, deal)
    return read


@deals_router.delete("/{deal_id}", status_code=204)
def delete_deal(deal_id: int, request: Request, db: DbDep, actor: ActorDep) -> Response:
    deal = service.get_deal(db, actor, deal_id)
    service.delete_deal(db, actor, deal, if_match_version(request))
    return Response(status_code=204)


@deals_router.post("/{deal_id}/move", response_model=DealRead)
def move_deal(
    deal_id: int, body: DealMove, request: Request, db: DbDep, actor: ActorDep, response: Response
) -> dict[str, Any]:
    """Move to another stage. Won and lost stages close the deal; a lost stage needs `lost_reason`."""
    deal = service.get_deal(db, actor, deal_id)
    data = service.move_data(body.stage_id, body.lost_reason)
    deal, read = service.update_deal_read(db, actor, deal, data, if_match_version(request))
    set_etag(response, deal)
    return read


@deals_router.get("/{deal_id}/stage-history", response_model=StageHistoryRead)
def stage_history(deal_id: int, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Every stay in a stage, oldest first, with its length in seconds (the current one up to now),
    and the total seconds per stage."""
    deal = service.get_deal(db, actor, deal_id)
    stays = service.stage_history(db, actor, deal)
    totals: dict[int, dict[str, Any]] = {}
    for stay in stays:
        entry = totals.setdefault(
            stay.stage_id, {"stage_id": stay.stage_id, "stage_name": stay.stage_name, "seconds": 0}
        )
        entry["seconds"] += stay.seconds
    return {"items": [stay.__dict__ for stay in stays], "totals": list(totals.values())}


router.include_router(pipelines_router)
router.include_router(deals_router)
