"""HTML pages of the transparency register: the register with its warnings, agreement and
benefit forms, the declaration export, reports, contact traceability and the thresholds."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from carnet.api.deps import DbDep
from carnet.contacts.models import PROFESSION_LABELS
from carnet.core import listing
from carnet.core.errors import PermissionDenied, ValidationFailed
from carnet.core.i18n import gettext
from carnet.transparency import reports, service
from carnet.transparency.models import (
    ANY_NATURE,
    BENEFICIARY_LABELS,
    FORMALITY_LABELS,
    NATURE_LABELS,
    THRESHOLD_KEYS,
)
from carnet.web.shell import WebActor, form_errors, redirect, render

router = APIRouter(prefix="/transparency", include_in_schema=False)

FORMALITY_FIELDS = (
    "formality_status",
    "declared_on",
    "authorisation_requested_on",
    "authorisation_decided_on",
)
BENEFIT_FIELDS = (
    "granted_on",
    "contact_id",
    "organisation_id",
    "beneficiary_category",
    "nature",
    "amount",
    "event",
    "description",
    "project_id",
    "agreement_id",
    *FORMALITY_FIELDS,
)
AGREEMENT_FIELDS = (
    "reference",
    "signed_on",
    "contact_id",
    "organisation_id",
    "beneficiary_category",
    "nature",
    "purpose",
    "amount",
    "start_date",
    "end_date",
    "event",
    "project_id",
    *FORMALITY_FIELDS,
)
# What the rules' formality codes mean, in English (translated in templates).
FORMALITY_OUTCOMES = {
    "not_applicable": "Not covered by the anti-gift regime",
    "negligible": "Negligible value",
    "agreement_required": "Needs an agreement",
    "declaration": "Declaration",
    "authorisation": "Authorisation",
}


def _t(actor: WebActor, text: str) -> str:
    return gettext(text, actor.language)


def _labels() -> dict[str, Any]:
    return {
        "natures": NATURE_LABELS,
        "categories": BENEFICIARY_LABELS,
        "formalities": FORMALITY_LABELS,
        "outcomes": FORMALITY_OUTCOMES,
        "professions": PROFESSION_LABELS,
    }


def _form_data(form: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """The posted fields; an empty choice or date is "not set"."""
    return {name: (str(form.get(name) or "").strip() or None) for name in fields if name in form}


def _choices(db: DbDep, actor: WebActor) -> dict[str, Any]:
    return {
        "contacts": service.contact_choices(db, actor),
        "project_choices": service.project_choices(db, actor),
        "agreements": service.agreement_choices(db, actor),
    }


@router.get("")
def register_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    return _register(request, db, actor, dict(request.query_params), {})


def _register(
    request: Request, db: DbDep, actor: WebActor, raw: dict[str, str], errors: dict[str, str]
) -> Response:
    try:
        period = service.period(raw)
        filters = {k: raw[k] for k in ("from", "to") if raw.get(k)}
        agreements, _ = service.list_agreements(
            db, actor, listing.parse_params({**filters, "limit": "200"}, default_sort="-signed_on")
        )
        benefits, _ = service.list_benefits(
            db, actor, listing.parse_params({**filters, "limit": "200"}, default_sort="-granted_on")
        )
    except ValidationFailed as exc:
        errors = {**errors, **form_errors(exc, actor.language)}
        period, agreements, benefits = (None, None), [], []
    agreement_rows = service.agreement_reads(db, agreements)
    benefit_rows = service.benefit_reads(db, benefits)
    return render(
        request,
        "transparency/register.html",
        status_code=422 if errors else 200,
        errors=errors,
        values=raw,
        period=period,
        agreements=agreement_rows,
        benefits=benefit_rows,
        references={a.id: a.reference for a in agreements},
        names=service.beneficiary_names(db, actor, [*agreements, *benefits]),
        warning_count=sum(1 for r in [*agreement_rows, *benefit_rows] if r["rules"]["warnings"]),
        **_labels(),
    )


@router.get("/export")
def export(request: Request, db: DbDep, actor: WebActor) -> Response:
    raw = dict(request.query_params)
    try:
        content = reports.export_csv(db, actor, raw)
    except ValidationFailed as exc:
        db.rollback()
        return _register(request, db, actor, raw, form_errors(exc, actor.language))
    name = f"transparence-sante_{raw.get('from')}_{raw.get('to')}.csv"
    return Response(
        content,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# -- benefits -------------------------------------------------------------------------------------------


def _benefit_form(
    request: Request, db: DbDep, actor: WebActor, benefit: Any, values: dict, errors: dict, status: int = 200
) -> Response:
    return render(
        request,
        "transparency/benefit_form.html",
        status_code=status,
        benefit=benefit,
        values=values,
        errors=errors,
        **_choices(db, actor),
        **_labels(),
    )


@router.get("/benefits/new")
def new_benefit(request: Request, db: DbDep, actor: WebActor) -> Response:
    if not actor.can("transparency:create"):
        raise PermissionDenied()
    values = {k: v for k, v in request.query_params.items() if k in BENEFIT_FIELDS}
    values.setdefault("granted_on", service.today().isoformat())
    return _benefit_form(request, db, actor, None, values, {})


@router.post("/benefits/new")
async def create_benefit(request: Request, db: DbDep, actor: WebActor) -> Response:
    form = await request.form()
    try:
        service.create_benefit(db, actor, _form_data(form, BENEFIT_FIELDS))
    except ValidationFailed as exc:
        db.rollback()
        return _benefit_form(request, db, actor, None, dict(form), form_errors(exc, actor.language), 422)
    return redirect("/transparency", flash=_t(actor, "Benefit recorded"), request=request)


@router.get("/benefits/{benefit_id}")
def edit_benefit(benefit_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    benefit = service.get_benefit(db, actor, benefit_id)
    read = service.benefit_reads(db, [benefit], actor.language)[0]
    values = {k: ("" if read.get(k) is None else str(read[k])) for k in BENEFIT_FIELDS}
    return _benefit_form(request, db, actor, read, values, {})


@router.post("/benefits/{benefit_id}")
async def update_benefit(benefit_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    benefit = service.get_benefit(db, actor, benefit_id)
    form = await request.form()
    version = int(form.get("version") or 0) or None
    try:
        service.update_benefit(db, actor, benefit, _form_data(form, BENEFIT_FIELDS), version)
    except ValidationFailed as exc:
        db.rollback()
        read = service.benefit_reads(db, [benefit], actor.language)[0]
        return _benefit_form(request, db, actor, read, dict(form), form_errors(exc, actor.language), 422)
    return redirect("/transparency", flash=_t(actor, "Changes saved"), request=request)


@router.post("/benefits/{benefit_id}/delete")
async def delete_benefit(benefit_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    benefit = service.get_benefit(db, actor, benefit_id)
    service.delete_benefit(db, actor, benefit)
    return redirect("/transparency", flash=_t(actor, "Benefit deleted"), request=request)


# -- agreements -----------------------------------------------------------------------------------------


def _agreement_form(
    request: Request,
    db: DbDep,
    actor: WebActor,
    agreement: Any,
    values: dict,
    errors: dict,
    status: int = 200,
) -> Response:
    return render(
        request,
        "transparency/agreement_form.html",
        status_code=status,
        agreement=agreement,
        values=values,
        errors=errors,
        **_choices(db, actor),
        **_labels(),
    )


@router.get("/agreements/new")
def new_agreement(request: Request, db: DbDep, actor: WebActor) -> Response:
    if not actor.can("transparency:create"):
        raise PermissionDenied()
    values = {k: v for k, v in request.query_params.items() if k in AGREEMENT_FIELDS}
    values.setdefault("signed_on", service.today().isoformat())
    values.setdefault("nature", "fee")
    return _agreement_form(request, db, actor, None, values, {})


@router.post("/agreements/new")
async def create_agreement(request: Request, db: DbDep, actor: WebActor) -> Response:
    form = await request.form()
    try:
        service.create_agreement(db, actor, _form_data(form, AGREEMENT_FIELDS))
    except ValidationFailed as exc:
        db.rollback()
        return _agreement_form(request, db, actor, None, dict(form), form_errors(exc, actor.language), 422)
    return redirect("/transparency", flash=_t(actor, "Agreement recorded"), request=request)


@router.get("/agreements/{agreement_id}")
def edit_agreement(agreement_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    agreement = service.get_agreement(db, actor, agreement_id)
    read = service.agreement_reads(db, [agreement], actor.language)[0]
    values = {k: ("" if read.get(k) is None else str(read[k])) for k in AGREEMENT_FIELDS}
    return _agreement_form(request, db, actor, read, values, {})


@router.post("/agreements/{agreement_id}")
async def update_agreement(agreement_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    agreement = service.get_agreement(db, actor, agreement_id)
    form = await request.form()
    version = int(form.get("version") or 0) or None
    try:
        service.update_agreement(db, actor, agreement, _form_data(form, AGREEMENT_FIELDS), version)
    except ValidationFailed as exc:
        db.rollback()
        read = service.agreement_reads(db, [agreement], actor.language)[0]
        return _agreement_form(request, db, actor, read, dict(form), form_errors(exc, actor.language), 422)
    return redirect("/transparency", flash=_t(actor, "Changes saved"), request=request)


@router.post("/agreements/{agreement_id}/delete")
async def delete_agreement(agreement_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    agreement = service.get_agreement(db, actor, agreement_id)
    service.delete_agreement(db, actor, agreement)
    return redirect("/transparency", flash=_t(actor, "Agreement deleted"), request=request)


# -- reports and traceability ---------------------------------------------------------------------------


@router.get("/report")
def report_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    raw = request.query_params
    if raw.get("contact_id"):
        data = reports.contact_report(db, actor, raw["contact_id"])
    elif raw.get("organisation_id"):
        data = reports.organisation_report(db, actor, raw["organisation_id"])
    else:
        return redirect("/transparency", request=request)
    return render(request, "transparency/report.html", report=data, **_labels())


@router.get("/traceability")
def traceability_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    raw = dict(request.query_params)
    rows: list[dict[str, Any]] = []
    errors: dict[str, str] = {}
    if raw.get("from") or raw.get("to"):
        try:
            rows = reports.traceability(db, actor, raw)
        except ValidationFailed as exc:
            errors = form_errors(exc, actor.language)
    return render(
        request,
        "transparency/traceability.html",
        status_code=422 if errors else 200,
        rows=rows,
        values=raw,
        errors=errors,
        **_labels(),
    )


@router.get("/traceability.csv")
def traceability_export(request: Request, db: DbDep, actor: WebActor) -> Response:
    raw = dict(request.query_params)
    try:
        content = reports.traceability_csv(db, actor, raw)
    except ValidationFailed as exc:
        db.rollback()
        return render(
            request,
            "transparency/traceability.html",
            status_code=422,
            rows=[],
            values=raw,
            errors=form_errors(exc, actor.language),
            **_labels(),
        )
    return Response(
        content,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="tracabilite_{raw["from"]}_{raw["to"]}.csv"'},
    )


# -- thresholds -----------------------------------------------------------------------------------------


def _thresholds_page(
    request: Request, db: DbDep, actor: WebActor, values: dict, errors: dict, status: int = 200
) -> Response:
    return render(
        request,
        "transparency/thresholds.html",
        status_code=status,
        thresholds=service.list_thresholds(db, actor),
        keys=THRESHOLD_KEYS,
        any_nature=ANY_NATURE,
        values=values,
        errors=errors,
        **_labels(),
    )


@router.get("/thresholds")
def thresholds_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    return _thresholds_page(request, db, actor, {"nature": ANY_NATURE}, {})


@router.post("/thresholds")
async def create_threshold(request: Request, db: DbDep, actor: WebActor) -> Response:
    form = await request.form()
    data = _form_data(form, ("key", "nature", "amount", "valid_from", "valid_to", "source"))
    try:
        service.create_threshold(db, actor, data)
    except ValidationFailed as exc:
        db.rollback()
        return _thresholds_page(request, db, actor, dict(form), form_errors(exc, actor.language), 422)
    return redirect("/transparency/thresholds", flash=_t(actor, "Changes saved"), request=request)


@router.post("/thresholds/{threshold_id}/end")
async def end_threshold(threshold_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    """Sets the last day of an amount (before a new one starts)."""
    threshold = service.get_threshold(db, actor, threshold_id)
    form = await request.form()
    try:
        service.update_threshold(db, actor, threshold, {"valid_to": str(form.get("valid_to") or "") or None})
    except ValidationFailed as exc:
        db.rollback()
        errors = {f"valid_to_{threshold_id}": v for v in form_errors(exc, actor.language).values()}
        return _thresholds_page(request, db, actor, {"nature": ANY_NATURE}, errors, 422)
    return redirect("/transparency/thresholds", flash=_t(actor, "Changes saved"), request=request)
