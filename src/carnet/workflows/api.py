"""JSON routes for workflows, runs, templates and the incoming webhook."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from carnet.api.common import Page, body_dict, if_match_version, set_etag
from carnet.api.deps import ActorDep, DbDep, Requires
from carnet.core import ratelimit
from carnet.core.errors import ValidationFailed
from carnet.workflows import service
from carnet.workflows.schemas import (
    DefinitionCheck,
    ExportDocument,
    HookAccepted,
    RecordRef,
    RunRead,
    TemplateRead,
    TestRunRead,
    ValidationRead,
    VersionRead,
    WorkflowCreate,
    WorkflowRead,
    WorkflowUpdate,
)

router = APIRouter()
workflows = APIRouter(prefix="/workflows", tags=["workflows"])
runs = APIRouter(prefix="/workflow-runs", tags=["workflows"])
templates = APIRouter(prefix="/workflow-templates", tags=["workflows"])
READ = [Depends(Requires("workflows:read"))]


def _one(db: Any, workflow: Any, response: Response) -> dict[str, Any]:
    set_etag(response, workflow)
    return service.to_read(db, workflow)


# -- incoming webhook (public: the secret is in the URL) -------------------------------------------------


@workflows.post("/hooks/{token}", status_code=202, response_model=HookAccepted)
async def incoming_webhook(token: str, request: Request, db: DbDep) -> dict[str, Any]:
    """Start the workflow behind this secret URL with the posted JSON object (`{{ webhook.* }}`).
    Unknown or disabled URL: 404. Rate limited per URL (default 10/minute; 429 with Retry-After).
    A `webhook-id` header deduplicates redeliveries."""
    workflow = service.webhook_workflow(db, token)
    ratelimit.hit(service.webhook_rate(workflow), "workflow-hook", token)
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        raise ValidationFailed.on("body", "Send a JSON object", "invalid_body")
    run = service.receive_webhook(db, workflow, body, request.headers.get("webhook-id"))
    return {"run_id": run.id if run else None, "status": run.status if run else "duplicate"}


# -- workflows ------------------------------------------------------------------------------------------------


@workflows.get("", response_model=Page[WorkflowRead], dependencies=READ)
def list_workflows(db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Every workflow, by name, with its current definition and run/failure counts."""
    return {"items": service.reads(db, service.list_workflows(db, actor)), "next_cursor": None}


@workflows.post("", status_code=201, response_model=WorkflowRead)
def create_workflow(body: WorkflowCreate, db: DbDep, actor: ActorDep, response: Response) -> dict[str, Any]:
    """A new, disabled workflow; an invalid `definition` answers 422 with one error per problem."""
    workflow = service.create_workflow(db, actor, body_dict(body))
    response.headers["Location"] = f"/api/v1/workflows/{workflow.id}"
    return _one(db, workflow, response)


@workflows.post("/validate", response_model=ValidationRead, dependencies=READ)
def validate(body: DefinitionCheck, db: DbDep) -> dict[str, Any]:
    """Check a definition without saving it: unknown steps, fields and variables, cycles without a
    wait, unreachable steps, missing params."""
    problems = service.validate_definition(db, body.definition)
    return {"valid": not problems, "problems": problems}


@workflows.get("/catalogue", dependencies=READ)
def catalogue(db: DbDep, record_type: str | None = None) -> dict[str, Any]:
    """Triggers, actions, condition operators, and the fields of `record_type` (custom fields as
    `cf.<key>`) for building definitions."""
    return {
        "triggers": service.trigger_catalogue(),
        "actions": service.action_catalogue(),
        "operators": service.operator_catalogue(),
        "fields": service.field_catalogue(db, record_type) if record_type else [],
    }


@workflows.post("/import", status_code=201, response_model=WorkflowRead)
def import_workflow(body: ExportDocument, db: DbDep, actor: ActorDep, response: Response) -> dict[str, Any]:
    """Create a disabled workflow from an export (`format` "carnet.workflow/1")."""
    workflow = service.import_workflow(db, actor, body.model_dump())
    response.headers["Location"] = f"/api/v1/workflows/{workflow.id}"
    return _one(db, workflow, response)


@workflows.get("/{workflow_id}", response_model=WorkflowRead)
def get_workflow(workflow_id: int, db: DbDep, actor: ActorDep, response: Response) -> dict[str, Any]:
    return _one(db, service.get_workflow(db, actor, workflow_id), response)


@workflows.patch("/{workflow_id}", response_model=WorkflowRead)
def update_workflow(
    workflow_id: int, body: WorkflowUpdate, request: Request, db: DbDep, actor: ActorDep, response: Response
) -> dict[str, Any]:
    """Rename, describe, set the webhook rate, or save a new `definition` (a new version when the
    workflow is active or has runs). `If-Match` with the ETag refuses a stale edit (412)."""
    workflow = service.get_workflow(db, actor, workflow_id)
    workflow = service.update_workflow(db, actor, workflow, body_dict(body), if_match_version(request))
    return _one(db, workflow, response)


@workflows.delete("/{workflow_id}", status_code=204)
def delete_workflow(workflow_id: int, request: Request, db: DbDep, actor: ActorDep) -> Response:
    """Only a disabled workflow can be deleted (409 otherwise); its history goes with it."""
    workflow = service.get_workflow(db, actor, workflow_id)
    service.delete_workflow(db, actor, workflow, if_match_version(request))
    return Response(status_code=204)


@workflows.post("/{workflow_id}/enable", response_model=WorkflowRead)
def enable(workflow_id: int, db: DbDep, actor: ActorDep, response: Response) -> dict[str, Any]:
    """Turn on; 422 with the definition's problems when it is not valid."""
    workflow = service.enable(db, actor, service.get_workflow(db, actor, workflow_id))
    return _one(db, workflow, response)


@workflows.post("/{workflow_id}/disable", response_model=WorkflowRead)
def disable(workflow_id: int, db: DbDep, actor: ActorDep, response: Response) -> dict[str, Any]:
    """Turn off; runs already started finish."""
    workflow = service.disable(db, actor, service.get_workflow(db, actor, workflow_id))
    return _one(db, workflow, response)


@workflows.post("/{workflow_id}/rotate-webhook-token", response_model=WorkflowRead)
def rotate_webhook_token(workflow_id: int, db: DbDep, actor: ActorDep, response: Response) -> dict[str, Any]:
    """A new secret incoming-webhook URL; the old one answers 404 at once."""
    workflow = service.rotate_webhook_token(db, actor, service.get_workflow(db, actor, workflow_id))
    return _one(db, workflow, response)


@workflows.get("/{workflow_id}/versions", response_model=Page[VersionRead])
def list_versions(workflow_id: int, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Saved versions, newest first. A version that was active or ran is never changed."""
    workflow = service.get_workflow(db, actor, workflow_id)
    rows = service.list_versions(db, actor, workflow)
    items = [
        {
            "number": v.number,
            "definition": v.definition,
            "created_by_id": v.created_by_id,
            "created_at": v.created_at,
            "frozen": v.frozen,
        }
        for v in rows
    ]
    return {"items": items, "next_cursor": None}


@workflows.get("/{workflow_id}/runs", response_model=Page[RunRead])
def list_runs(
    workflow_id: int,
    db: DbDep,
    actor: ActorDep,
    status: str | None = None,
    test: bool | None = None,
    limit: int = 50,
    before_id: int | None = None,
) -> dict[str, Any]:
    """Runs newest first (without their steps). `status` (comma-separated), `test`, and the keyset
    cursor `before_id` (the `next_cursor` of the previous page)."""
    workflow = service.get_workflow(db, actor, workflow_id)
    params: dict[str, Any] = {"status": status, "limit": limit, "before_id": before_id}
    if test is not None:
        params["test"] = str(test).lower()
    rows = service.list_runs(db, actor, workflow, params)
    cursor = str(rows[-1].id) if len(rows) == max(1, min(limit, 200)) else None
    return {"items": [service.run_read(db, r, with_steps=False) for r in rows], "next_cursor": cursor}


@workflows.post("/{workflow_id}/test", response_model=TestRunRead)
def test_workflow(workflow_id: int, body: RecordRef, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Run on a record with side effects simulated: what each step would do (no write, email or HTTP)."""
    workflow = service.get_workflow(db, actor, workflow_id)
    return service.test_run(db, actor, workflow, body.record_type, body.record_id)


@workflows.post("/{workflow_id}/run", status_code=202, response_model=RunRead)
def run_workflow(workflow_id: int, body: RecordRef, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Start an active workflow now on a record (the manual trigger); its steps run as jobs."""
    workflow = service.get_workflow(db, actor, workflow_id)
    run = service.run_manual(db, actor, workflow, body.record_type, body.record_id)
    return service.run_read(db, run)


@workflows.get("/{workflow_id}/export", response_model=ExportDocument)
def export_workflow(workflow_id: int, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    workflow = service.get_workflow(db, actor, workflow_id)
    return service.export_workflow(db, actor, workflow)


# -- runs ----------------------------------------------------------------------------------------------------


@runs.get("/{run_id}", response_model=RunRead)
def get_run(run_id: int, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """A run with every step attempt: input, output, status, duration, error."""
    return service.run_read(db, service.get_run(db, actor, run_id))


@runs.post("/{run_id}/resume", response_model=RunRead)
def resume_run(run_id: int, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Go on from the failed step of a failed run (409 for any other run)."""
    run = service.resume_run(db, actor, service.get_run(db, actor, run_id))
    return service.run_read(db, run)


@runs.post("/{run_id}/cancel", response_model=RunRead)
def cancel_run(run_id: int, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    run = service.cancel_run(db, actor, service.get_run(db, actor, run_id))
    return service.run_read(db, run)


# -- templates -----------------------------------------------------------------------------------------------


@templates.get("", response_model=Page[TemplateRead], dependencies=READ)
def list_templates() -> dict[str, Any]:
    return {"items": service.list_templates(), "next_cursor": None}


@templates.post("/{key}/install", status_code=201, response_model=WorkflowRead)
def install_template(key: str, db: DbDep, actor: ActorDep, response: Response) -> dict[str, Any]:
    """A new disabled workflow from the template, ready to edit and enable."""
    workflow = service.install_template(db, actor, key)
    response.headers["Location"] = f"/api/v1/workflows/{workflow.id}"
    return _one(db, workflow, response)


router.include_router(workflows)
router.include_router(runs)
router.include_router(templates)
