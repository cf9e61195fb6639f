"""The home page: my tasks today and overdue, my open deals, my projects, recent activity."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from carnet.activities import service as activities
from carnet.api.deps import DbDep
from carnet.core.listing import parse_params
from carnet.deals import service as deals
from carnet.projects import service as projects
from carnet.tasks import service as tasks
from carnet.web.shell import WebActor, render

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(request: Request, db: DbDep, actor: WebActor) -> Response:
    overdue, today = tasks.my_tasks_today_and_overdue(db, actor) if actor.can("tasks:read") else ([], [])
    my_deals: list = []
    if actor.can("deals:read"):
        params = parse_params(
            {"owner_id": str(actor.user_id), "status": "open", "sort": "expected_close_date", "limit": "10"}
        )
        my_deals, _cursor = deals.list_deals(db, actor, params)
    my_projects = projects.my_projects(db, actor)
    recent = activities.recent_for_user(db, actor, 10) if actor.can("activities:read") else []
    open_total = sum((d.amount or 0) for d in my_deals)
    return render(
        request,
        "home/home.html",
        overdue=overdue,
        today=today,
        my_deals=my_deals,
        recent=recent,
        open_total=open_total,
        my_projects=my_projects,
        project_phases=projects.phase_names(db, [p for p, _health in my_projects]),
        health_labels=projects.HEALTH_LABELS,
    )
