"""Pipelines and their stages: configuration as data.

Every pipeline keeps at least one open stage, exactly one won stage and at least one lost stage;
logic keys off a stage's `kind`, never its name. A pipeline tied to a department is used and seen
only by that department and by administrators; people who manage pipelines
(`pipelines:update`, implied by `pipelines:admin`) see them all.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_, select, true, update
from sqlalchemy.orm import Session

from carnet.accounts import service as accounts
from carnet.core import audit, clock, events, lifecycle
from carnet.core.context import SYSTEM, Actor
from carnet.core.errors import Conflict, FieldErrors, NotFound, PermissionDenied, ValidationFailed
from carnet.core.i18n import gettext
from carnet.deals import moves
from carnet.deals.models import STAGE_KINDS, Deal, Pipeline, Stage

COLOR_RE = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
MAX_ROTTING_DAYS = 3650

# (name, kind, probability, rotting days, colour): the stages a new pipeline starts with.
DEFAULT_STAGES: tuple[tuple[str, str, int, int | None, str], ...] = (
    ("Qualification", "open", 10, 14, "#64748b"),
    ("Proposal", "open", 50, 14, "#2563eb"),
    ("Negotiation", "open", 75, 10, "#d97706"),
    ("Won", "won", 100, None, "#16a34a"),
    ("Lost", "lost", 0, None, "#dc2626"),
)

DEMO_PIPELINES: tuple[tuple[str, tuple[tuple[str, str, int, int | None, str], ...]], ...] = (
    (
        "Ventes B2B",
        (
            ("Qualification", "open", 10, 14, "#64748b"),
            ("Découverte", "open", 25, 21, "#0891b2"),
            ("Proposition", "open", 50, 14, "#2563eb"),
            ("Négociation", "open", 75, 10, "#d97706"),
            ("Gagné", "won", 100, None, "#16a34a"),
            ("Perdu", "lost", 0, None, "#dc2626"),
        ),
    ),
    (
        "Établissements de santé",
        (
            ("Premier contact", "open", 10, 21, "#64748b"),
            ("Référencement", "open", 20, 45, "#0891b2"),
            ("Essai clinique", "open", 40, 60, "#7c3aed"),
            ("Appel d'offres", "open", 60, 45, "#2563eb"),
            ("Négociation", "open", 80, 21, "#d97706"),
            ("Gagné", "won", 100, None, "#16a34a"),
            ("Perdu", "lost", 0, None, "#dc2626"),
        ),
    ),
)


# -- reading -----------------------------------------------------------------------------------------


def can_manage(actor: Actor) -> bool:
    return actor.can("pipelines:update")


def _require_manage(actor: Actor) -> None:
    if not can_manage(actor):
        raise PermissionDenied()


def _require_read(actor: Actor) -> None:
    if not (actor.can("pipelines:read") or actor.can("deals:read")):
        raise PermissionDenied()


def usable_clause(actor: Actor) -> ColumnElement[bool]:
    """Pipelines `actor` may put deals in and see on the board."""
    if actor.is_admin:
        return true()
    if actor.department_id is None:
        return Pipeline.department_id.is_(None)
    return or_(Pipeline.department_id.is_(None), Pipeline.department_id == actor.department_id)


def _visible_clause(actor: Actor) -> ColumnElement[bool]:
    return true() if can_manage(actor) else usable_clause(actor)


def list_pipelines(db: Session, actor: Actor, include_inactive: bool = False) -> list[Pipeline]:
    """The pipelines `actor` can use (managers: every pipeline), in display order."""
    _require_read(actor)
    stmt = select(Pipeline).where(_visible_clause(actor))
    if not include_inactive:
        stmt = stmt.where(Pipeline.active.is_(True))
    return list(db.scalars(stmt.order_by(Pipeline.position, Pipeline.id)))


def usable_pipelines(db: Session, actor: Actor) -> list[Pipeline]:
    """Active pipelines `actor` may put deals in, in display order (managers included: managing a
    pipeline of another department does not make it theirs to sell in)."""
    _require_read(actor)
    stmt = select(Pipeline).where(usable_clause(actor), Pipeline.active.is_(True))
    return list(db.scalars(stmt.order_by(Pipeline.position, Pipeline.id)))


def get_pipeline(db: Session, actor: Actor, pipeline_id: Any) -> Pipeline:
    _require_read(actor)
    try:
        pipeline_id = int(pipeline_id)
    except (TypeError, ValueError):
        raise NotFound()
    pipeline = db.scalar(select(Pipeline).where(Pipeline.id == pipeline_id, _visible_clause(actor)))
    if pipeline is None:
        raise NotFound()
    return pipeline


def usable_pipeline(db: Session, actor: Actor, pipeline_id: int) -> Pipeline | None:
    """The pipeline if `actor` may put deals in it (its department, or an admin), else None."""
    return db.scalar(select(Pipeline).where(Pipeline.id == pipeline_id, usable_clause(actor)))


def default_pipeline(db: Session, actor: Actor) -> Pipeline | None:
    return db.scalar(
        select(Pipeline)
        .where(usable_clause(actor), Pipeline.active.is_(True))
        .order_by(Pipeline.is_default.desc(), Pipeline.position, Pipeline.id)
        .limit(1)
    )


def stages_of(db: Session, pipeline_ids: list[int]) -> dict[int, list[Stage]]:
    """Stages per pipeline, ordered by position (one query)."""
    out: dict[int, list[Stage]] = defaultdict(list)
    if not pipeline_ids:
        return out
    for stage in db.scalars(
        select(Stage).where(Stage.pipeline_id.in_(pipeline_ids)).order_by(Stage.position, Stage.id)
    ):
        out[stage.pipeline_id].append(stage)
    return out


def stages(db: Session, pipeline: Pipeline) -> list[Stage]:
    return stages_of(db, [pipeline.id]).get(pipeline.id, [])


def get_stage(db: Session, pipeline: Pipeline, stage_id: Any) -> Stage:
    try:
        stage_id = int(stage_id)
    except (TypeError, ValueError):
        raise NotFound()
    stage = db.scalar(select(Stage).where(Stage.id == stage_id, Stage.pipeline_id == pipeline.id))
    if stage is None:
        raise NotFound()
    return stage


def first_open_stage(stage_list: list[Stage]) -> Stage | None:
    return next((s for s in stage_list if s.kind == "open"), None)


def deal_counts(db: Session, pipeline_ids: list[int]) -> dict[int, int]:
    """Deals per stage (all of them, whoever can see them: configuration decisions need the truth)."""
    if not pipeline_ids:
        return {}
    rows = db.execute(
        select(Deal.stage_id, func.count()).where(Deal.pipeline_id.in_(pipeline_ids)).group_by(Deal.stage_id)
    )
    return {stage_id: count for stage_id, count in rows}


def pipeline_snapshot(pipeline: Pipeline, stage_list: list[Stage]) -> dict[str, Any]:
    return {
        "name": pipeline.name,
        "department_id": pipeline.department_id,
        "position": pipeline.position,
        "is_default": pipeline.is_default,
        "active": pipeline.active,
        "stages": [stage_snapshot(s) for s in stage_list],
    }


def stage_snapshot(stage: Stage) -> dict[str, Any]:
    return {
        "id": stage.id,
        "name": stage.name,
        "position": stage.position,
        "kind": stage.kind,
        "probability": stage.probability,
        "rotting_days": stage.rotting_days,
        "color": stage.color,
    }


def to_read(pipeline: Pipeline, stage_list: list[Stage]) -> dict[str, Any]:
    return {
        "id": pipeline.id,
        "name": pipeline.name,
        "department_id": pipeline.department_id,
        "position": pipeline.position,
        "is_default": pipeline.is_default,
        "active": pipeline.active,
        "version": pipeline.version,
        "stages": [{**stage_snapshot(s), "pipeline_id": s.pipeline_id} for s in stage_list],
        "created_at": pipeline.created_at,
        "updated_at": pipeline.updated_at,
    }


def reads(db: Session, pipelines: list[Pipeline]) -> list[dict[str, Any]]:
    stage_map = stages_of(db, [p.id for p in pipelines])
    return [to_read(p, stage_map.get(p.id, [])) for p in pipelines]


# -- validation ----------------------------------------------------------------------------------------


def _clean_stage(data: dict[str, Any], errors: FieldErrors, prefix: str, creating: bool) -> dict[str, Any]:
    """Validated stage fields present in `data` (with defaults on creation)."""
    out: dict[str, Any] = {}
    if creating or "name" in data:
        name = (data.get("name") or "").strip()
        if not name:
            errors.add(f"{prefix}name", "This field is required", "required")
        elif len(name) > 120:
            errors.add(f"{prefix}name", "At most {max} characters", "too_long", max=120)
        out["name"] = name
    if creating or "kind" in data:
        kind = data.get("kind") or "open"
        if kind not in STAGE_KINDS:
            errors.add(
                f"{prefix}kind", "Choose one of: {values}", "invalid_choice", values=", ".join(STAGE_KINDS)
            )
        out["kind"] = kind
    if "probability" in data or creating:
        probability = data.get("probability")
        if probability is None:
            probability = {"won": 100, "lost": 0}.get(out.get("kind", ""), 0) if creating else None
        if probability is None:
            errors.add(f"{prefix}probability", "This field is required", "required")
        elif isinstance(probability, bool) or not isinstance(probability, int) or not 0 <= probability <= 100:
            errors.add(f"{prefix}probability", "Enter a whole number between 0 and 100", "out_of_range")
        out["probability"] = probability
    if "rotting_days" in data:
        days = data.get("rotting_days")
        if days is not None and (
            isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_ROTTING_DAYS
        ):
            errors.add(
                f"{prefix}rotting_days",
                "Enter a number of days between 1 and {max}, or leave empty",
                "out_of_range",
                max=MAX_ROTTING_DAYS,
            )
        out["rotting_days"] = days
    if "color" in data:
        color = (data.get("color") or "").strip() or None
        if color is not None and not COLOR_RE.match(color):
            errors.add(f"{prefix}color", "Enter a colour such as #2563eb", "invalid")
        out["color"] = color
    return out


def _check_kinds(kinds: list[str], errors: FieldErrors, field: str) -> None:
    if kinds.count("open") < 1:
        errors.add(field, "A pipeline needs at least one open stage", "needs_open_stage")
    if kinds.count("won") != 1:
        errors.add(field, "A pipeline needs exactly one won stage", "needs_one_won_stage")
    if kinds.count("lost") < 1:
        errors.add(field, "A pipeline needs at least one lost stage", "needs_lost_stage")


def _check_name(db: Session, name: str | None, current_id: int | None, errors: FieldErrors) -> None:
    if not name:
        return
    clash = db.scalar(select(Pipeline.id).where(func.lower(Pipeline.name) == name.lower()))
    if clash is not None and clash != current_id:
        errors.add("name", "This name is already used", "unique")


def _check_department(db: Session, department_id: int | None, errors: FieldErrors) -> None:
    if department_id is None:
        return
    try:
        accounts.get_department(db, department_id)
    except NotFound:
        errors.add("department_id", "Unknown department", "unknown")


def _renumber(stage_list: list[Stage]) -> None:
    for position, stage in enumerate(stage_list):
        if stage.position != position:
            stage.position = position


def _touch(pipeline: Pipeline, actor: Actor) -> None:
    """Bump the pipeline's version when its stages change: its ETag covers them."""
    pipeline.updated_at = clock.now()
    pipeline.updated_by_id = actor.user_id


def _audit(
    db: Session, actor: Actor, action: str, record_type: str, record_id: int, changes: dict, summary: str
) -> None:
    audit.record(db, actor, action, record_type, record_id, changes, summary)


# -- pipelines -----------------------------------------------------------------------------------------


def create_pipeline(db: Session, actor: Actor, data: dict[str, Any]) -> Pipeline:
    _require_manage(actor)
    errors = FieldErrors()
    name = (data.get("name") or "").strip()
    if not name:
        errors.add("name", "This field is required", "required")
    _check_name(db, name, None, errors)
    _check_department(db, data.get("department_id"), errors)
    raw_stages = data.get("stages")
    if raw_stages is None:
        raw_stages = [
            {
                "name": gettext(n, actor.language),
                "kind": k,
                "probability": p,
                "rotting_days": r,
                "color": c,
            }
            for n, k, p, r, c in DEFAULT_STAGES
        ]
    cleaned = [_clean_stage(s, errors, f"stages.{i}.", creating=True) for i, s in enumerate(raw_stages)]
    names = [s["name"].lower() for s in cleaned if s.get("name")]
    if len(set(names)) != len(names):
        errors.add("stages", "Two stages cannot have the same name", "duplicate_stage")
    _check_kinds([s.get("kind", "") for s in cleaned], errors, "stages")
    errors.raise_if_any()
    position = data.get("position")
    if position is None:
        position = (db.scalar(select(func.max(Pipeline.position))) or 0) + 1
    pipeline = Pipeline(
        name=name,
        department_id=data.get("department_id"),
        position=position,
        is_default=bool(data.get("is_default")),
        active=data.get("active", True) is not False,
        created_by_id=actor.user_id,
        updated_by_id=actor.user_id,
    )
    db.add(pipeline)
    db.flush()
    stage_list = [Stage(pipeline_id=pipeline.id, position=i, **s) for i, s in enumerate(cleaned)]
    db.add_all(stage_list)
    db.flush()
    if pipeline.is_default:
        _clear_other_defaults(db, pipeline)
    snapshot = pipeline_snapshot(pipeline, stage_list)
    _audit(db, actor, "create", "pipeline", pipeline.id, audit.diff({}, snapshot), pipeline.name)
    events.emit(db, actor, "pipeline.created", "pipeline", pipeline.id, to_read(pipeline, stage_list))
    db.commit()
    return pipeline


def _clear_other_defaults(db: Session, pipeline: Pipeline) -> None:
    db.execute(
        update(Pipeline)
        .where(Pipeline.id != pipeline.id, Pipeline.is_default.is_(True))
        .values(is_default=False, version=Pipeline.version + 1)
        .execution_options(synchronize_session="fetch")
    )


def update_pipeline(
    db: Session, actor: Actor, pipeline: Pipeline, data: dict[str, Any], expected_version: int | None = None
) -> Pipeline:
    """Rename, tie to a department, mark default or inactive, and reorder stages (`stage_ids`)."""
    _require_manage(actor)
    lifecycle.check_version(pipeline, expected_version)
    stage_list = stages(db, pipeline)
    before = pipeline_snapshot(pipeline, stage_list)
    errors = FieldErrors()
    if "name" in data:
        name = (data.get("name") or "").strip()
        if not name:
            errors.add("name", "This field is required", "required")
        _check_name(db, name, pipeline.id, errors)
        pipeline.name = name or pipeline.name
    if "department_id" in data:
        _check_department(db, data["department_id"], errors)
        pipeline.department_id = data["department_id"]
    if data.get("position") is not None:
        pipeline.position = data["position"]
    if data.get("is_default") is not None:
        pipeline.is_default = bool(data["is_default"])
    if data.get("active") is not None:
        pipeline.active = bool(data["active"])
    if data.get("stage_ids") is not None:
        by_id = {s.id: s for s in stage_list}
        wanted = list(data["stage_ids"])
        if sorted(wanted) != sorted(by_id) or len(set(wanted)) != len(wanted):
            errors.add("stage_ids", "List every stage of this pipeline exactly once", "invalid_order")
        else:
            stage_list = [by_id[i] for i in wanted]
            _renumber(stage_list)
    errors.raise_if_any()
    after = pipeline_snapshot(pipeline, stage_list)
    if before == after:
        db.rollback()
        return pipeline
    _touch(pipeline, actor)
    if pipeline.is_default:
        _clear_other_defaults(db, pipeline)
    db.flush()
    changes = audit.diff(before, after)
    _audit(db, actor, "update", "pipeline", pipeline.id, changes, pipeline.name)
    events.emit(
        db,
        actor,
        "pipeline.updated",
        "pipeline",
        pipeline.id,
        {**to_read(pipeline, stage_list), "changes": changes},
    )
    db.commit()
    return pipeline


def reorder_stages(db: Session, actor: Actor, pipeline: Pipeline, stage_ids: list[int]) -> Pipeline:
    return update_pipeline(db, actor, pipeline, {"stage_ids": stage_ids})


def delete_pipeline(
    db: Session, actor: Actor, pipeline: Pipeline, expected_version: int | None = None
) -> None:
    """Only an empty pipeline can go: its deals would lose their stage."""
    _require_manage(actor)
    lifecycle.check_version(pipeline, expected_version)
    if db.scalar(select(Deal.id).where(Deal.pipeline_id == pipeline.id).limit(1)) is not None:
        raise Conflict(
            "Move or delete the deals of this pipeline before deleting it", code="pipeline_not_empty"
        )
    stage_list = stages(db, pipeline)
    snapshot = pipeline_snapshot(pipeline, stage_list)
    _audit(db, actor, "delete", "pipeline", pipeline.id, audit.diff(snapshot, {}), pipeline.name)
    events.emit(db, actor, "pipeline.deleted", "pipeline", pipeline.id, to_read(pipeline, stage_list))
    db.execute(delete(Stage).where(Stage.pipeline_id == pipeline.id))
    db.delete(pipeline)
    db.commit()


# -- stages --------------------------------------------------------------------------------------------


def _clamp(position: Any, upper: int) -> int:
    return max(0, min(int(position), upper))


def create_stage(db: Session, actor: Actor, pipeline: Pipeline, data: dict[str, Any]) -> Stage:
    """Add a stage. Without a position, an open stage goes after the last open one and a closed
    stage at the end."""
    _require_manage(actor)
    stage_list = stages(db, pipeline)
    errors = FieldErrors()
    fields = _clean_stage(data, errors, "", creating=True)
    if fields.get("name") and any(s.name.lower() == fields["name"].lower() for s in stage_list):
        errors.add("name", "This pipeline already has a stage with this name", "unique")
    if fields.get("kind") == "won" and any(s.kind == "won" for s in stage_list):
        errors.add("kind", "A pipeline needs exactly one won stage", "needs_one_won_stage")
    errors.raise_if_any()
    if data.get("position") is not None:
        position = _clamp(data["position"], len(stage_list))
    elif fields["kind"] == "open":
        opens = [i for i, s in enumerate(stage_list) if s.kind == "open"]
        position = (opens[-1] + 1) if opens else 0
    else:
        position = len(stage_list)
    stage = Stage(pipeline_id=pipeline.id, position=position, created_by_id=actor.user_id, **fields)
    db.add(stage)
    stage_list.insert(position, stage)
    _renumber(stage_list)
    _touch(pipeline, actor)
    db.flush()
    _audit(db, actor, "create", "stage", stage.id, audit.diff({}, stage_snapshot(stage)), stage.name)
    events.emit(db, actor, "pipeline.updated", "pipeline", pipeline.id, to_read(pipeline, stage_list))
    db.commit()
    return stage


def update_stage(db: Session, actor: Actor, pipeline: Pipeline, stage: Stage, data: dict[str, Any]) -> Stage:
    """Rename, recolour, change probability or rotting days, change kind (only while the stage is
    empty, because the deals' status follows it) or move it to another position."""
    _require_manage(actor)
    stage_list = stages(db, pipeline)
    before = stage_snapshot(stage)
    errors = FieldErrors()
    fields = _clean_stage(data, errors, "", creating=False)
    if fields.get("name") and any(
        s.id != stage.id and s.name.lower() == fields["name"].lower() for s in stage_list
    ):
        errors.add("name", "This pipeline already has a stage with this name", "unique")
    held = deal_counts(db, [pipeline.id]).get(stage.id, 0)
    if "kind" in fields and fields["kind"] != stage.kind and not errors:
        if held:
            errors.add("kind", "Move the deals out of this stage before changing its kind", "stage_not_empty")
        _check_kinds([fields["kind"] if s.id == stage.id else s.kind for s in stage_list], errors, "kind")
    errors.raise_if_any()
    old_probability = stage.probability
    old_name = stage.name
    for key, value in fields.items():
        setattr(stage, key, value)
    if data.get("position") is not None:
        stage_list.remove(next(s for s in stage_list if s.id == stage.id))
        stage_list.insert(_clamp(data["position"], len(stage_list)), stage)
        _renumber(stage_list)
    after = stage_snapshot(stage)
    if before == after:
        db.rollback()
        return stage
    stage.updated_by_id = actor.user_id
    _touch(pipeline, actor)
    if held and stage.probability != old_probability:
        # Deals that followed the stage's probability keep following it.
        db.execute(
            update(Deal)
            .where(Deal.stage_id == stage.id, Deal.probability == old_probability)
            .values(probability=stage.probability, version=Deal.version + 1)
            .execution_options(synchronize_session="fetch")
        )
    db.flush()
    if held and (stage.name != old_name or stage.probability != old_probability):
        _reindex_stage(db, stage)
    _audit(db, actor, "update", "stage", stage.id, audit.diff(before, after), stage.name)
    events.emit(db, actor, "pipeline.updated", "pipeline", pipeline.id, to_read(pipeline, stage_list))
    db.commit()
    return stage


def delete_stage(
    db: Session, actor: Actor, pipeline: Pipeline, stage: Stage, target_stage_id: int | None = None
) -> None:
    """Delete a stage; its deals first move to `target_stage_id`, a stage of the same kind in the
    same pipeline (so no deal changes status behind its owner's back)."""
    _require_manage(actor)
    stage_list = stages(db, pipeline)
    errors = FieldErrors()
    _check_kinds([s.kind for s in stage_list if s.id != stage.id], errors, "stage")
    errors.raise_if_any()
    deals = list(db.scalars(select(Deal).where(Deal.stage_id == stage.id).order_by(Deal.id)))
    target: Stage | None = None
    if deals:
        if target_stage_id is None:
            raise ValidationFailed.on(
                "target_stage_id", "This stage holds deals: choose the stage to move them to", "required"
            )
        target = next((s for s in stage_list if s.id == target_stage_id and s.id != stage.id), None)
        if target is None:
            raise ValidationFailed.on("target_stage_id", "Choose another stage of this pipeline", "unknown")
        if target.kind != stage.kind:
            raise ValidationFailed.on("target_stage_id", "Choose a stage of the same kind", "kind_mismatch")
        now = clock.now()
        for deal in deals:
            moves.apply_stage(deal, stage, target, now)
            deal.updated_by_id = actor.user_id
            moves.enter_stage(db, deal, target.id, actor, now)
        db.flush()
        names = moves.organisation_names(db, deals)
        for deal in deals:
            moves.record_transition(db, actor, deal, stage, target)
            moves.index(db, deal, target.name, names)
    _audit(
        db,
        actor,
        "delete",
        "stage",
        stage.id,
        audit.diff(stage_snapshot(stage), {}),
        stage.name + (f" → {target.name} ({len(deals)})" if target else ""),
    )
    remaining = [s for s in stage_list if s.id != stage.id]
    db.delete(stage)
    db.flush()
    _renumber(remaining)
    _touch(pipeline, actor)
    db.flush()
    events.emit(db, actor, "pipeline.updated", "pipeline", pipeline.id, to_read(pipeline, remaining))
    db.commit()


def _reindex_stage(db: Session, stage: Stage, batch: int = 1000) -> None:
    """Search subtitles name the stage: refresh them, in bounded batches."""
    last_id = 0
    while True:
        rows = list(
            db.scalars(
                select(Deal)
                .where(Deal.stage_id == stage.id, Deal.id > last_id)
                .order_by(Deal.id)
                .limit(batch)
            )
        )
        if not rows:
            return
        names = moves.organisation_names(db, rows)
        for deal in rows:
            moves.index(db, deal, stage.name, names)
        last_id = rows[-1].id
        db.flush()


# -- set-up --------------------------------------------------------------------------------------------


def ensure_default_pipelines(db: Session) -> list[Pipeline]:
    """Create the two demo pipelines when there is no pipeline at all. Flushes; the caller commits
    (the demo loader runs it inside its own transaction)."""
    if db.scalar(select(Pipeline.id).limit(1)) is not None:
        return []
    created = []
    for position, (name, stage_specs) in enumerate(DEMO_PIPELINES):
        pipeline = Pipeline(name=name, position=position, is_default=position == 0, active=True)
        db.add(pipeline)
        db.flush()
        stage_list = [
            Stage(
                pipeline_id=pipeline.id,
                name=stage_name,
                position=i,
                kind=kind,
                probability=probability,
                rotting_days=rotting,
                color=color,
            )
            for i, (stage_name, kind, probability, rotting, color) in enumerate(stage_specs)
        ]
        db.add_all(stage_list)
        db.flush()
        _audit(
            db,
            SYSTEM,
            "create",
            "pipeline",
            pipeline.id,
            audit.diff({}, pipeline_snapshot(pipeline, stage_list)),
            pipeline.name,
        )
        created.append(pipeline)
    return created
