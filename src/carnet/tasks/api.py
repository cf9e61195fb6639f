"""JSON routes for tasks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from carnet.api.common import Page, body_dict, if_match_version, list_params, set_etag
from carnet.api.deps import ActorDep, DbDep, Requires
from carnet.tasks import service
from carnet.tasks.schemas import TaskCreate, TaskRead, TaskUpdate

router = APIRouter(prefix="/tasks", tags=["tasks"])


@router.get("", response_model=Page[TaskRead], dependencies=[Depends(Requires("tasks:read"))])
def list_tasks(request: Request, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """List tasks, soonest due first by default (undated last). Filters: `status` (`todo,in_progress`
    for several), `priority`, `owner_id`, `record_type` + `record_id`, `due_at__gte`, `due_at__lte`,
    `overdue=true` (open and due before today in your time zone), `cf.<key>`; `q` searches titles."""
    rows, cursor = service.list_tasks(db, actor, list_params(request, default_sort="due_at"))
    return {"items": service.reads(db, rows, actor), "next_cursor": cursor}


@router.post("", status_code=201, response_model=TaskRead)
def create_task(body: TaskCreate, db: DbDep, actor: ActorDep, response: Response) -> dict[str, Any]:
    task = service.create_task(db, actor, body_dict(body))
    set_etag(response, task)
    response.headers["Location"] = f"/api/v1/tasks/{task.id}"
    return service.reads(db, [task], actor)[0]


@router.get("/{task_id}", response_model=TaskRead)
def get_task(task_id: int, db: DbDep, actor: ActorDep, response: Response) -> dict[str, Any]:
    task = service.get_task(db, actor, task_id)
    set_etag(response, task)
    return service.reads(db, [task], actor)[0]


@router.patch("/{task_id}", response_model=TaskRead)
def update_task(
    task_id: int, body: TaskUpdate, request: Request, db: DbDep, actor: ActorDep, response: Response
) -> dict[str, Any]:
    task = service.get_task(db, actor, task_id)
    task = service.update_task(db, actor, task, body_dict(body), if_match_version(request))
    set_etag(response, task)
    return service.reads(db, [task], actor)[0]


@router.post("/{task_id}/complete", response_model=TaskRead)
def complete_task(
    task_id: int, request: Request, db: DbDep, actor: ActorDep, response: Response
) -> dict[str, Any]:
    """Mark the task done. A recurring task gets its next occurrence (`next_task_id`)."""
    task = service.get_task(db, actor, task_id)
    task = service.complete_task(db, actor, task, if_match_version(request))
    set_etag(response, task)
    return service.reads(db, [task], actor)[0]


@router.delete("/{task_id}", status_code=204)
def delete_task(task_id: int, request: Request, db: DbDep, actor: ActorDep) -> Response:
    task = service.get_task(db, actor, task_id)
    service.delete_task(db, actor, task, if_match_version(request))
    return Response(status_code=204)
