"""The home page: my tasks today and overdue, my open deals, recent activity."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from carnet.api.deps import DbDep
from carnet.web.shell import WebActor, render

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(request: Request, db: DbDep, actor: WebActor) -> Response:
    return render(request, "home/home.html")
