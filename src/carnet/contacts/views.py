"""HTML pages for contacts, and the contact cards shown on an organisation's page."""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from carnet.accounts import service as accounts
from carnet.api.deps import DbDep
from carnet.contacts import establishments, service
from carnet.contacts.models import (
    CIVILITIES,
    CONSENT_STATUSES,
    PROFESSION_LABELS,
    SPECIALITY_SUGGESTIONS,
    Contact,
)
from carnet.core import customfields, listing, tags
from carnet.core.context import Actor
from carnet.core.errors import NotFound, ValidationFailed
from carnet.core.i18n import gettext
from carnet.core.identifiers import format_phone, key_warning
from carnet.organisations import service as organisations
from carnet.web.forms import form_to_data
from carnet.web.lists import list_query, saved_views_context
from carnet.web.shell import WebActor, form_errors, redirect, render

router = APIRouter(prefix="/contacts", include_in_schema=False)

FORM_FIELDS = (
    "civility",
    "first_name",
    "last_name",
    "job_title",
    "emails",
    "phones",
    "linkedin_url",
    "rpps",
    "profession",
    "speciality",
    "marketing_consent",
    "marketing_consent_at",
    "marketing_consent_source",
    "city",
    "notes",
    "owner_id",
    "tags",
)
# English labels (translated in templates) for the stored consent values.
CONSENT_LABELS = {"unknown": "Unknown", "granted": "Granted", "refused": "Refused", "withdrawn": "Withdrawn"}
# Columns a user can show in the list (key, English label); the first ones are the default.
COLUMNS = [
    ("name", "Name"),
    ("job_title", "Job title"),
    ("organisation", "Organisation"),
    ("email", "Email"),
    ("phone", "Phone"),
    ("city", "City"),
    ("tags", "Tags"),
    ("created_at", "Created"),
    ("owner", "Owner"),
    ("marketing_consent", "Email marketing consent"),
    ("linkedin_url", "LinkedIn"),
    ("rpps", "RPPS"),
    ("profession", "Profession"),
    ("speciality", "Speciality"),
    ("updated_at", "Updated"),
]
DEFAULT_COLUMNS = ["name", "job_title", "organisation", "email", "phone", "city", "tags", "created_at"]
# Column -> the sort key of the contacts listing.
SORT_KEYS = {
    "name": "last_name",
    "job_title": "job_title",
    "city": "city",
    "marketing_consent": "marketing_consent",
    "created_at": "created_at",
    "updated_at": "updated_at",
}
CARD_LIMIT = 20
ORGANISATION_OPTIONS_LIMIT = 20


def _t(actor: Actor, text: str) -> str:
    return gettext(text, actor.language)


# -- organisation rows of the form -------------------------------------------------------------------
# Existing links are rows of `org_id` (hidden), `org_role`, `org_remove` (row index) fields; the
# empty row for a new link uses `organisation_id` and `role`; the `org_primary` radio holds the
# index of the main row, or "new".


def _int_or_text(value: Any) -> Any:
    text = str(value or "").strip()
    return int(text) if text.isdigit() else text


def _links_from_form(form: FormData) -> tuple[list[dict[str, Any]], list[str]]:
    """(links for the service, the form prefix of each link for placing its errors)."""
    removed = set(form.getlist("org_remove"))
    primary = form.get("org_primary")
    links: list[dict[str, Any]] = []
    prefixes: list[str] = []
    for i, (org_id, role) in enumerate(zip(form.getlist("org_id"), form.getlist("org_role"), strict=False)):
        if str(i) in removed:
            continue
        links.append(
            {
                "organisation_id": _int_or_text(org_id),
                "role": str(role).strip() or None,
                "is_primary": primary == str(i),
            }
        )
        prefixes.append(f"org.{i}.")
    new_id = str(form.get("organisation_id") or "").strip()
    if new_id:
        links.append(
            {
                "organisation_id": _int_or_text(new_id),
                "role": str(form.get("role") or "").strip() or None,
                "is_primary": primary == "new",
            }
        )
        prefixes.append("")
    return links, prefixes


def _place_errors(
    exc: ValidationFailed, actor: Actor, data: dict[str, Any], prefixes: list[str]
) -> dict[str, str]:
    """Field errors keyed by form field: `organisations.<n>.role` goes to the row that sent it, and
    `phones.<n>` to the phones field, naming the value that is wrong."""
    out: dict[str, str] = {}
    for name, message in form_errors(exc, actor.language).items():
        link = re.fullmatch(r"organisations\.(\d+)\.(\w+)", name)
        item = re.fullmatch(r"(emails|phones)\.(\d+)", name)
        if link and int(link[1]) < len(prefixes):
            name = prefixes[int(link[1])] + link[2]
        elif item:
            values = data.get(item[1]) or []
            position = int(item[2])
            name = item[1]
            if position < len(values):
                message = (
                    f"{values[position]} : {message}"
                    if actor.language == "fr"
                    else f"{values[position]}: {message}"
                )
        if name in out:
            out[name] = f"{out[name]} {message}" if item else out[name]
        else:
            out[name] = message
    return out


def _rows_from_form(db: DbDep, actor: Actor, form: FormData) -> list[dict[str, Any]]:
    """The existing-link rows as posted, to show them again next to their errors."""
    ids = [_int_or_text(v) for v in form.getlist("org_id")]
    names = organisations.names_by_id(
        db, actor, {i for i in ids if isinstance(i, int) and i <= service.MAX_ID}
    )
    removed = set(form.getlist("org_remove"))
    primary = form.get("org_primary")
    return [
        {
            "organisation_id": org_id,
            "name": names.get(org_id, "") if isinstance(org_id, int) else "",
            "role": role,
            "is_primary": primary == str(i),
            "removed": str(i) in removed,
        }
        for i, (org_id, role) in enumerate(zip(ids, form.getlist("org_role"), strict=False))
    ]


def _organisation_choice(db: DbDep, actor: Actor, raw: Any) -> dict[str, Any] | None:
    """{"id", "name"} of an organisation id from a form or URL, when `actor` may see it."""
    org_id = _int_or_text(raw)
    if not isinstance(org_id, int) or org_id > service.MAX_ID:
        return None
    name = organisations.names_by_id(db, actor, {org_id}).get(org_id)
    return {"id": org_id, "name": name} if name else None


# -- shared context ----------------------------------------------------------------------------------


def _consent_date(contact: Contact, actor: Actor) -> str:
    """The consent date as a date input shows it, in the user's time zone."""
    if contact.marketing_consent_at is None:
        return ""
    return contact.marketing_consent_at.astimezone(ZoneInfo(actor.timezone)).date().isoformat()


def _form_context(db: DbDep) -> dict[str, Any]:
    return {
        "civilities": CIVILITIES,
        "professions": PROFESSION_LABELS,
        "specialities": SPECIALITY_SUGGESTIONS,
        "consent_statuses": CONSENT_STATUSES,
        "consent_labels": CONSENT_LABELS,
        "users": accounts.list_users(db, active_only=True),
        "definitions": customfields.definitions(db, service.RECORD_TYPE),
    }


def _form_data(db: DbDep, form: FormData) -> tuple[dict[str, Any], list[str]]:
    data = form_to_data(form, FORM_FIELDS, db, service.RECORD_TYPE)
    data["do_not_call"] = form.get("do_not_call") is not None
    data["organisations"], prefixes = _links_from_form(form)
    return data, prefixes


def _render_invalid(
    request: Request,
    db: DbDep,
    actor: Actor,
    contact: Contact | None,
    form: FormData,
    data: dict[str, Any],
    exc: ValidationFailed,
    prefixes: list[str],
) -> Response:
    values = {
        **dict(form),
        "do_not_call": form.get("do_not_call") is not None,
        "custom_fields": data.get("custom_fields") or {},
    }
    return render(
        request,
        "contacts/form.html",
        status_code=422,
        contact=contact,
        values=values,
        errors=_place_errors(exc, actor, data, prefixes),
        org_rows=_rows_from_form(db, actor, form),
        new_org=_organisation_choice(db, actor, form.get("organisation_id")),
        new_primary=form.get("org_primary") == "new",
        **_form_context(db),
    )


# -- pages -------------------------------------------------------------------------------------------


@router.get("")
def list_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    # org_q is the organisation picker's search box, not a filter.
    query = list_query(request.query_params, COLUMNS, DEFAULT_COLUMNS, ignore=("org_q",))
    params = listing.parse_params(query.filters, default_sort="last_name")
    rows, cursor = service.list_contacts(db, actor, params)
    ids = [c.id for c in rows]
    link_map = service.links_of(db, ids)
    org_names = organisations.names_by_id(
        db, actor, {link["organisation_id"] for links in link_map.values() for link in links}
    )
    main_org: dict[int, dict[str, Any]] = {}
    for contact_id, links in link_map.items():
        for link in sorted(links, key=lambda x: not x["is_primary"]):
            if link["organisation_id"] in org_names:
                main_org[contact_id] = {
                    "id": link["organisation_id"],
                    "name": org_names[link["organisation_id"]],
                }
                break
    users = accounts.list_users(db, active_only=True)
    return render(
        request,
        "contacts/list.html",
        rows=rows,
        next_cursor=cursor,
        tag_map=tags.tags_for(db, service.RECORD_TYPE, ids),
        main_org=main_org,
        params=query.params,
        columns=query.columns,
        all_columns=COLUMNS,
        sort_keys=SORT_KEYS,
        selected_org=_organisation_choice(db, actor, query.params.get("organisation_id")),
        consent_statuses=CONSENT_STATUSES,
        consent_labels=CONSENT_LABELS,
        total=service.count_contacts(db, actor, params),
        users=users,
        user_names={u.id: u.full_name for u in users},
        record_type=service.RECORD_TYPE,
        **saved_views_context(db, actor, service.RECORD_TYPE, query),
    )


@router.get("/_organisation_options")
def organisation_options(request: Request, db: DbDep, actor: WebActor, org_q: str = "") -> Response:
    """<option>s for the organisation picker: visible organisations whose name matches."""
    found = []
    if org_q.strip() and actor.can("organisations:read"):
        params = listing.ListParams(q=org_q.strip()[:100], sort="name", limit=ORGANISATION_OPTIONS_LIMIT)
        found, _cursor = organisations.list_organisations(db, actor, params)
    return render(request, "contacts/_organisation_options.html", found=found, searched=bool(org_q.strip()))


@router.get("/_for/organisation/{org_id}")
def organisation_cards(org_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    """The contacts of one organisation, as compact cards for its page."""
    if not 1 <= org_id <= service.MAX_ID:
        raise NotFound()
    org = organisations.get_organisation(db, actor, org_id)
    if not actor.can("contacts:read"):
        return HTMLResponse("")
    contacts = service.for_organisation(db, actor, org.id, limit=CARD_LIMIT)
    total = (
        service.count_contacts(db, actor, listing.ListParams(filters={"organisation_id": str(org.id)}))
        if len(contacts) == CARD_LIMIT
        else len(contacts)
    )
    return render(
        request,
        "contacts/_for_organisation.html",
        org=org,
        contacts=contacts,
        roles=service.roles_at(db, org.id, [c.id for c in contacts]),
        total=total,
    )


@router.get("/new")
def new_page(request: Request, db: DbDep, actor: WebActor, organisation_id: str = "") -> Response:
    new_org = _organisation_choice(db, actor, organisation_id)
    return render(
        request,
        "contacts/form.html",
        contact=None,
        values={"marketing_consent": "unknown"},
        errors={},
        org_rows=[],
        new_org=new_org,
        new_primary=True,
        **_form_context(db),
    )


@router.post("/new")
async def create(request: Request, db: DbDep, actor: WebActor) -> Response:
    form = await request.form()
    data, prefixes = _form_data(db, form)
    try:
        contact = service.create_contact(db, actor, data)
    except ValidationFailed as exc:
        db.rollback()
        return _render_invalid(request, db, actor, None, form, data, exc, prefixes)
    return redirect(f"/contacts/{contact.id}", flash=_t(actor, "Contact created"), request=request)


@router.get("/{contact_id}")
def detail_page(contact_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    contact = service.get_contact(db, actor, contact_id)
    return _detail(request, db, actor, contact)


def _detail(
    request: Request,
    db: DbDep,
    actor: WebActor,
    contact: Contact,
    establishment_errors: dict[str, str] | None = None,
    establishment_values: dict[str, Any] | None = None,
) -> Response:
    return render(
        request,
        "contacts/detail.html",
        status_code=422 if establishment_errors else 200,
        establishment_errors=establishment_errors or {},
        establishment_values=establishment_values or {},
        contact=contact,
        orgs=service.organisations_of(db, actor, contact),
        tag_names=tags.tags_for(db, service.RECORD_TYPE, [contact.id]).get(contact.id, []),
        definitions=customfields.definitions(db, service.RECORD_TYPE),
        owner=accounts.get_user(db, contact.owner_id) if contact.owner_id else None,
        rpps_warning=key_warning(contact.rpps),
        professions=PROFESSION_LABELS,
        establishments=establishments.establishments_of(db, actor, contact),
        establishment_options=(
            organisations.health_establishments(db, actor) if actor.can("contacts:update") else []
        ),
        consent_labels=CONSENT_LABELS,
        record_type=service.RECORD_TYPE,
    )


@router.get("/{contact_id}/edit")
def edit_page(contact_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    contact = service.get_contact(db, actor, contact_id)
    values: dict[str, Any] = service.snapshot(contact)
    values["emails"] = ", ".join(contact.emails or [])
    values["phones"] = ", ".join(format_phone(p) for p in contact.phones or [])
    values["marketing_consent_at"] = _consent_date(contact, actor)
    values["tags"] = ", ".join(tags.tags_for(db, service.RECORD_TYPE, [contact.id]).get(contact.id, []))
    rows = [{**link, "removed": False} for link in service.organisations_of(db, actor, contact)]
    return render(
        request,
        "contacts/form.html",
        contact=contact,
        values=values,
        errors={},
        org_rows=rows,
        new_org=None,
        new_primary=False,
        **_form_context(db),
    )


@router.post("/{contact_id}/edit")
async def update(contact_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    contact = service.get_contact(db, actor, contact_id)
    form = await request.form()
    data, prefixes = _form_data(db, form)
    # The form sends the stored consent date back, cut to a day: that is not a new answer. Leave
    # it out so the stored time stays, or the service stamps the change when the status moved.
    if data.get("marketing_consent_at") and data["marketing_consent_at"] == _consent_date(contact, actor):
        data.pop("marketing_consent_at")
    posted_version = _int_or_text(form.get("version"))
    version = posted_version if isinstance(posted_version, int) and posted_version > 0 else None
    try:
        service.update_contact(db, actor, contact, data, version)
    except ValidationFailed as exc:
        db.rollback()
        return _render_invalid(request, db, actor, contact, form, data, exc, prefixes)
    return redirect(f"/contacts/{contact.id}", flash=_t(actor, "Changes saved"), request=request)


@router.post("/{contact_id}/delete")
async def delete(contact_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    contact = service.get_contact(db, actor, contact_id)
    service.delete_contact(db, actor, contact)
    return redirect("/contacts", flash=_t(actor, "Contact deleted"), request=request)


# -- establishments (health professionals) -----------------------------------------------------------


@router.post("/{contact_id}/establishments")
async def add_establishment(contact_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    contact = service.get_contact(db, actor, contact_id)
    form = await request.form()
    current = establishments.establishments_of(db, actor, contact)
    items = [{k: link[k] for k in ("organisation_id", "service", "role")} for link in current]
    items.append(
        {
            "organisation_id": _int_or_text(form.get("organisation_id")),
            "service": str(form.get("service") or ""),
            "role": str(form.get("role") or ""),
        }
    )
    try:
        establishments.set_establishments(db, actor, contact, items)
    except ValidationFailed as exc:
        db.rollback()
        # The new row is the last one: show its errors next to the add form's fields.
        prefix = f"establishments.{len(items) - 1}."
        errors = {
            e.field.removeprefix(prefix): gettext(e.message, actor.language, **e.params) for e in exc.errors
        }
        return _detail(request, db, actor, contact, errors, dict(form))
    return redirect(f"/contacts/{contact_id}", flash=_t(actor, "Changes saved"), request=request)


@router.post("/{contact_id}/establishments/{organisation_id}/remove")
async def remove_establishment(
    contact_id: int, organisation_id: int, request: Request, db: DbDep, actor: WebActor
) -> Response:
    contact = service.get_contact(db, actor, contact_id)
    current = establishments.establishments_of(db, actor, contact)
    items = [
        {k: link[k] for k in ("organisation_id", "service", "role")}
        for link in current
        if link["organisation_id"] != organisation_id
    ]
    establishments.set_establishments(db, actor, contact, items)
    return redirect(f"/contacts/{contact_id}", flash=_t(actor, "Changes saved"), request=request)
