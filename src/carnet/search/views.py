"""The top-bar suggestions (an htmx fragment) and the full results page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from carnet.api.deps import DbDep
from carnet.core.errors import NotFound
from carnet.search import service
from carnet.web.shell import WebActor, render

router = APIRouter(prefix="/search", include_in_schema=False)


@router.get("/suggest")
def suggest(request: Request, db: DbDep, actor: WebActor, q: str = "") -> Response:
    query = q.strip()[:200]
    if not query:
        # Truly empty: the CSS hides an :empty dropdown.
        return HTMLResponse("")
    hits = service.search(db, actor, query, service.SUGGEST_LIMIT)
    return render(request, "search/_suggestions.html", hits=hits, q=query, label=service.type_label)


@router.get("")
def results_page(request: Request, db: DbDep, actor: WebActor, q: str = "") -> Response:
    query = q.strip()[:200]
    groups = service.grouped(db, actor, query) if query else []
    return render(
        request, "search/results.html", groups=groups, q=query, per_type_limit=service.PER_TYPE_LIMIT
    )


def _pick_options(request: Request, db: DbDep, actor: WebActor, record_type: str, pick_q: str) -> Response:
    if not service.pickable(record_type):
        raise NotFound()
    field = request.query_params.get("field", "")
    raw = request.query_params.get(field, "") if field else ""
    selected = int(raw) if raw.isdigit() and 0 < int(raw) < 2**31 else None
    current, hits = service.pick(db, actor, record_type, pick_q.strip()[:200], selected)
    return render(request, "search/_pick_options.html", current=current, hits=hits, selected=selected)


@router.get("/pick")
def pick_of_chosen_type(request: Request, db: DbDep, actor: WebActor, pick_q: str = "") -> Response:
    """The options of a picker whose record type is chosen in another field of the form (a task's
    linked record): `type_field` names that field. No type chosen yet: the blank option alone."""
    type_field = request.query_params.get("type_field", "")
    record_type = request.query_params.get(type_field, "") if type_field else ""
    if not record_type:
        return render(request, "search/_pick_options.html", current=None, hits=[], selected=None)
    return _pick_options(request, db, actor, record_type, pick_q)


@router.get("/pick/{record_type}")
def pick(request: Request, db: DbDep, actor: WebActor, record_type: str, pick_q: str = "") -> Response:
    """The <option>s of a form's record picker (the `record_picker` macro): the current value,
    read from the field named by `field`, then the matches of `pick_q`; with no current value the
    best match is selected."""
    return _pick_options(request, db, actor, record_type, pick_q)
