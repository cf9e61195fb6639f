"""HTML pages for organisations."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from carnet.accounts import service as accounts
from carnet.api.deps import DbDep
from carnet.core import countries, customfields, listing, tags
from carnet.core.errors import ValidationFailed
from carnet.organisations import service
from carnet.organisations.models import (
    ESTABLISHMENT_CATEGORY_LABELS,
    ESTABLISHMENT_STATUS_LABELS,
    HEADCOUNT_BRACKETS,
    ORGANISATION_TYPES,
    Organisation,
)
from carnet.web.forms import form_to_data
from carnet.web.lists import list_query, saved_views_context
from carnet.web.shell import WebActor, form_errors, lang_of, redirect, render

router = APIRouter(prefix="/organisations", include_in_schema=False)

FORM_FIELDS = (
    "name",
    "legal_name",
    "siren",
    "siret",
    "vat_number",
    "naf_code",
    "legal_form",
    "headcount_bracket",
    "website",
    "emails",
    "phones",
    "address_line1",
    "address_line2",
    "postal_code",
    "city",
    "country",
    "type",
    "source",
    "parent_id",
    "finess",
    "finess_ej",
    "establishment_category",
    "establishment_status",
    "description",
    "owner_id",
    "tags",
)


def _form_context(db: DbDep, request: Request, org: Organisation | None) -> dict:
    return {
        "countries": countries.choices(lang_of(request)),
        "types": ORGANISATION_TYPES,
        "brackets": HEADCOUNT_BRACKETS,
        "categories": ESTABLISHMENT_CATEGORY_LABELS,
        "statuses": ESTABLISHMENT_STATUS_LABELS,
        "users": accounts.list_users(db, active_only=True),
        "definitions": customfields.definitions(db, service.RECORD_TYPE),
    }


# Columns a user can show in the list (key, English label); the first ones are the default.
COLUMNS = [
    ("name", "Name"),
    ("type", "Type"),
    ("siren", "SIREN"),
    ("city", "City"),
    ("size_category", "Size"),
    ("tags", "Tags"),
    ("owner", "Owner"),
    ("naf_code", "NAF/APE code"),
    ("postal_code", "Postal code"),
    ("country", "Country"),
    ("headcount_bracket", "Headcount"),
    ("source", "Source"),
    ("establishment_category", "Establishment category"),
    ("establishment_status", "Establishment status"),
    ("finess", "FINESS géographique (ET)"),
    ("created_at", "Created"),
    ("updated_at", "Updated"),
]
DEFAULT_COLUMNS = ["name", "type", "siren", "city", "size_category", "tags", "owner"]


@router.get("")
def list_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    query = list_query(request.query_params, COLUMNS, DEFAULT_COLUMNS)
    params = listing.parse_params(query.filters, default_sort="name")
    rows, cursor = service.list_organisations(db, actor, params)
    tag_map = tags.tags_for(db, service.RECORD_TYPE, [o.id for o in rows])
    users = accounts.list_users(db, active_only=True)
    return render(
        request,
        "organisations/list.html",
        rows=rows,
        next_cursor=cursor,
        tag_map=tag_map,
        params=query.params,
        types=ORGANISATION_TYPES,
        categories=ESTABLISHMENT_CATEGORY_LABELS,
        statuses=ESTABLISHMENT_STATUS_LABELS,
        total=service.count_organisations(db, actor, params),
        columns=query.columns,
        all_columns=COLUMNS,
        users=users,
        user_names={u.id: u.full_name for u in users},
        record_type=service.RECORD_TYPE,
        **saved_views_context(db, actor, service.RECORD_TYPE, query),
    )


@router.get("/new")
def new_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    return render(
        request,
        "organisations/form.html",
        org=None,
        values={"type": "prospect", "country": countries.DEFAULT},
        errors={},
        **_form_context(db, request, None),
    )


@router.post("/new")
async def create(request: Request, db: DbDep, actor: WebActor) -> Response:
    form = await request.form()
    data = form_to_data(form, FORM_FIELDS, db, service.RECORD_TYPE)
    try:
        org = service.create_organisation(db, actor, data)
    except ValidationFailed as exc:
        db.rollback()
        return render(
            request,
            "organisations/form.html",
            status_code=422,
            org=None,
            values=dict(form),
            errors=form_errors(exc, actor.language),
            **_form_context(db, request, None),
        )
    return redirect(f"/organisations/{org.id}", flash=_t(actor, "Organisation created"), request=request)


@router.get("/{org_id}")
def detail_page(org_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    org = service.get_organisation(db, actor, org_id)
    # One query: the parent's name, or nothing when the viewer may not see it.
    parent_name = (
        service.names_by_id(db, actor, {org.parent_id}).get(org.parent_id) if org.parent_id else None
    )
    return render(
        request,
        "organisations/detail.html",
        org=org,
        parent_name=parent_name,
        ght=service.ght_of(db, actor, org),
        categories=ESTABLISHMENT_CATEGORY_LABELS,
        statuses=ESTABLISHMENT_STATUS_LABELS,
        tag_names=tags.tags_for(db, service.RECORD_TYPE, [org.id]).get(org.id, []),
        establishments=service.establishments(db, actor, org),
        definitions=customfields.definitions(db, service.RECORD_TYPE),
        owner=accounts.get_user(db, org.owner_id) if org.owner_id else None,
        country_name=countries.name(org.country, actor.language),
        record_type=service.RECORD_TYPE,
    )


@router.get("/{org_id}/edit")
def edit_page(org_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    org = service.get_organisation(db, actor, org_id)
    values = service.snapshot(org)
    values["emails"] = ", ".join(org.emails or [])
    values["phones"] = ", ".join(org.phones or [])
    values["tags"] = ", ".join(tags.tags_for(db, service.RECORD_TYPE, [org.id]).get(org.id, []))
    return render(
        request,
        "organisations/form.html",
        org=org,
        values=values,
        errors={},
        **_form_context(db, request, org),
    )


@router.post("/{org_id}/edit")
async def update(org_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    org = service.get_organisation(db, actor, org_id)
    form = await request.form()
    data = form_to_data(form, FORM_FIELDS, db, service.RECORD_TYPE)
    version = int(form.get("version") or 0) or None
    try:
        service.update_organisation(db, actor, org, data, version)
    except ValidationFailed as exc:
        db.rollback()
        return render(
            request,
            "organisations/form.html",
            status_code=422,
            org=org,
            values=dict(form),
            errors=form_errors(exc, actor.language),
            **_form_context(db, request, org),
        )
    return redirect(f"/organisations/{org.id}", flash=_t(actor, "Changes saved"), request=request)


@router.post("/{org_id}/delete")
async def delete(org_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    org = service.get_organisation(db, actor, org_id)
    service.delete_organisation(db, actor, org)
    return redirect("/organisations", flash=_t(actor, "Organisation deleted"), request=request)


def _t(actor: WebActor, text: str) -> str:
    from carnet.core.i18n import gettext

    return gettext(text, actor.language)
