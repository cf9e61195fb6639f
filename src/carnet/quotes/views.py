"""HTML pages of quotes: list, new, editor (live totals, drag-and-drop lines), detail with PDF
preview, versions and the send dialog; and the client's public page (no login) to read and sign."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from carnet.api.deps import DbDep, client_ip
from carnet.core import listing, ratelimit
from carnet.core.context import Actor
from carnet.core.errors import DomainError, NotFound, ValidationFailed
from carnet.core.i18n import gettext
from carnet.documents import editor, terms
from carnet.organisations import service as organisations
from carnet.quotes import rendering, service
from carnet.quotes.models import QUOTE_STATUSES, Quote
from carnet.web.shell import WebActor, form_errors, lang_of, redirect, render

router = APIRouter(include_in_schema=False)
quotes = APIRouter(prefix="/quotes")
public = APIRouter(prefix="/q")
PUBLIC_RATE = "60/minute"
HEADER_FIELDS = (
    "title",
    "contact_id",
    "deal_id",
    "valid_until",
    "payment_terms",
    "deposit_percent",
    "execution_date",
    "delivery_address",
    "operation_category",
    "notes",
    "global_discount_percent",
    "global_discount_amount",
)
STATUS_LABELS = {
    "draft": "Draft",
    "sent": "Sent",
    "accepted": "Accepted",
    "refused": "Refused",
    "expired": "Expired",
}


def _t(actor: Actor, text: str, **params: Any) -> str:
    return gettext(text, actor.language, **params)


def _pdf(content: bytes, filename: str) -> Response:
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


def _header_from_form(form: Any) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name in HEADER_FIELDS:
        if name in form:
            value = form.get(name)
            data[name] = value.strip() if isinstance(value, str) else value
    return data


# -- list and creation -----------------------------------------------------------------------------


@quotes.get("")
def list_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    raw = {
        k: v
        for k, v in request.query_params.items()
        if v and k in ("status", "q", "cursor", "organisation_id", "deal_id")
    }
    error = None
    try:
        params = listing.parse_params(raw, default_sort="-created_at")
        rows, cursor = service.list_quotes(db, actor, params)
    except ValidationFailed as exc:
        db.rollback()
        rows, cursor = [], None
        error = "; ".join(form_errors(exc, actor.language).values())
    return render(
        request,
        "quotes/list.html",
        rows=rows,
        next_cursor=cursor,
        counts=service.count_by_status(db, actor),
        statuses=QUOTE_STATUSES,
        status_labels=STATUS_LABELS,
        current_status=raw.get("status", ""),
        q=raw.get("q", ""),
        org_names=organisations.names_by_id(
            db, actor, {q.organisation_id for q in rows if q.organisation_id}
        ),
        error=error,
    )


@quotes.get("/new")
def new_page(request: Request, db: DbDep, actor: WebActor) -> Response:
    values = {
        k: request.query_params.get(k, "") for k in ("organisation_id", "deal_id", "contact_id", "title")
    }
    return render(request, "quotes/new.html", values=values, errors={})


@quotes.post("/new")
async def create(request: Request, db: DbDep, actor: WebActor) -> Response:
    form = await request.form()
    data = {
        k: (str(form.get(k) or "").strip() or None)
        for k in ("organisation_id", "contact_id", "deal_id", "title")
    }
    try:
        quote = service.create_quote(db, actor, data)
    except ValidationFailed as exc:
        db.rollback()
        return render(
            request, "quotes/new.html", status_code=422, values=data, errors=form_errors(exc, actor.language)
        )
    return redirect(
        f"/quotes/{quote.id}", flash=_t(actor, "Quote {number} created", number=quote.number), request=request
    )


# -- detail / editor ---------------------------------------------------------------------------------


def _detail_context(
    db: Session, actor: Actor, quote: Quote, version_values: dict[str, Any] | None = None
) -> dict[str, Any]:
    version = service.current_version(db, quote)
    totals = rendering.totals_of(version)
    editable = quote.status != "accepted" and actor.can("quotes:update")
    return {
        "quote": quote,
        "version": version,
        "versions": service.list_versions(db, actor, quote),
        "signatures": service.signatures(db, quote),
        "totals": totals,
        "lines": version_values.get("lines") if version_values else version.lines,
        "values": version_values or {},
        "editable": editable,
        "org_name": organisations.names_by_id(db, actor, {quote.organisation_id}).get(quote.organisation_id)
        if quote.organisation_id
        else None,
        "buyer": (version.parties or {}).get("buyer") or {},
        "rates": editor.vat_rate_choices(),
        "exemption_mentions": editor.exemption_mentions(),
        "terms_choices": [(t, gettext(terms.LABELS[t], actor.language)) for t in terms.TERMS],
        "status_labels": STATUS_LABELS,
    }


@quotes.get("/{quote_id}")
def detail_page(quote_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    quote = service.get_quote(db, actor, quote_id)
    return render(
        request, "quotes/detail.html", errors={}, sent_url=None, **_detail_context(db, actor, quote)
    )


@quotes.post("/{quote_id}/totals")
async def live_totals(quote_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    """The totals block of the editor, recomputed from the lines being typed (htmx)."""
    service.get_quote(db, actor, quote_id)
    form = await request.form()
    data = {**_header_from_form(form), "lines": editor.lines_from_form(form)}
    try:
        totals = service.preview_totals(db, actor, data)
        error = None
    except ValidationFailed as exc:
        totals, error = None, "; ".join(sorted(set(form_errors(exc, actor.language).values())))
    return render(request, "documents/_totals.html", totals=totals, error=error)


@quotes.post("/{quote_id}/edit")
async def save(quote_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    quote = service.get_quote(db, actor, quote_id)
    form = await request.form()
    data = {**_header_from_form(form), "lines": editor.lines_from_form(form)}
    try:
        version = int(str(form.get("version") or ""))
    except ValueError:
        version = None
    try:
        service.update_quote(db, actor, quote, data, version)
    except ValidationFailed as exc:
        db.rollback()
        quote = service.get_quote(db, actor, quote_id)
        return render(
            request,
            "quotes/detail.html",
            status_code=422,
            errors=form_errors(exc, actor.language),
            sent_url=None,
            **_detail_context(db, actor, quote, data),
        )
    return redirect(f"/quotes/{quote.id}", flash=_t(actor, "Changes saved"), request=request)


@quotes.get("/{quote_id}/pdf")
def pdf(quote_id: int, db: DbDep, actor: WebActor) -> Response:
    quote = service.get_quote(db, actor, quote_id)
    return _pdf(
        service.render_version_pdf(db, quote, service.current_version(db, quote)), f"{quote.number}.pdf"
    )


@quotes.get("/{quote_id}/versions/{number}/pdf")
def version_pdf(quote_id: int, number: int, db: DbDep, actor: WebActor) -> Response:
    quote = service.get_quote(db, actor, quote_id)
    version = service.get_version(db, actor, quote, number)
    return _pdf(service.render_version_pdf(db, quote, version), f"{quote.number}-v{number}.pdf")


@quotes.get("/{quote_id}/signed.pdf")
def signed_pdf(quote_id: int, db: DbDep, actor: WebActor) -> Response:
    quote = service.get_quote(db, actor, quote_id)
    found = service.signatures(db, quote)
    if not found:
        raise NotFound()
    return _pdf(service.read_signed_pdf(found[-1]), f"{quote.number}-signe.pdf")


@quotes.post("/{quote_id}/send")
async def send(quote_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    quote = service.get_quote(db, actor, quote_id)
    form = await request.form()
    try:
        sent = service.send_quote(db, actor, quote, str(form.get("to") or ""), str(form.get("message") or ""))
    except ValidationFailed as exc:
        db.rollback()
        quote = service.get_quote(db, actor, quote_id)
        return render(
            request,
            "quotes/detail.html",
            status_code=422,
            errors=form_errors(exc, actor.language),
            sent_url=None,
            send_open=True,
            **_detail_context(db, actor, quote),
        )
    # The link is shown once, here: only its hash is stored.
    return render(
        request,
        "quotes/detail.html",
        errors={},
        sent_url=sent.url,
        flash=_t(actor, "Quote sent to {to}", to=sent.version.sent_to or ""),
        **_detail_context(db, actor, sent.quote),
    )


@quotes.post("/{quote_id}/accept")
async def accept(quote_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    quote = service.get_quote(db, actor, quote_id)
    form = await request.form()
    service.accept_quote(db, actor, quote, str(form.get("signer_name") or "") or None)
    return redirect(f"/quotes/{quote_id}", flash=_t(actor, "Quote accepted"), request=request)


@quotes.post("/{quote_id}/refuse")
async def refuse(quote_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    quote = service.get_quote(db, actor, quote_id)
    form = await request.form()
    try:
        service.refuse_quote(db, actor, quote, str(form.get("reason") or ""))
    except ValidationFailed as exc:
        db.rollback()
        quote = service.get_quote(db, actor, quote_id)
        return render(
            request,
            "quotes/detail.html",
            status_code=422,
            errors=form_errors(exc, actor.language),
            sent_url=None,
            **_detail_context(db, actor, quote),
        )
    return redirect(f"/quotes/{quote_id}", flash=_t(actor, "Quote refused"), request=request)


@quotes.post("/{quote_id}/delete")
async def delete(quote_id: int, request: Request, db: DbDep, actor: WebActor) -> Response:
    quote = service.get_quote(db, actor, quote_id)
    service.delete_quote(db, actor, quote)
    return redirect("/quotes", flash=_t(actor, "Quote deleted"), request=request)


# -- the client's public page ------------------------------------------------------------------------


def _limit(request: Request) -> None:
    ratelimit.hit(PUBLIC_RATE, "quote-public", client_ip(request) or "-")


def _public_page(request: Request, db: Session, token: str, status: int = 200, **extra: Any) -> Response:
    quote, version = service.quote_for_token(db, token)
    return render(
        request,
        "quotes/public.html",
        status_code=status,
        quote=quote,
        version=version,
        totals=rendering.totals_of(version),
        buyer=(version.parties or {}).get("buyer") or {},
        company=service.company_service.get_company(db),
        token=token,
        errors=extra.pop("errors", {}),
        **extra,
    )


@public.get("/{token}")
def public_page(token: str, request: Request, db: DbDep) -> Response:
    _limit(request)
    return _public_page(request, db, token)


@public.get("/{token}/pdf")
def public_pdf(token: str, request: Request, db: DbDep) -> Response:
    _limit(request)
    quote, version = service.quote_for_token(db, token)
    return _pdf(service.render_version_pdf(db, quote, version), f"{quote.number}.pdf")


@public.post("/{token}/sign")
async def public_sign(token: str, request: Request, db: DbDep) -> Response:
    _limit(request)
    form = await request.form()
    try:
        service.sign_quote(
            db,
            token,
            form.get("signer_name"),
            form.get("signature"),
            form.get("consent"),
            form.get("document_sha256"),
            client_ip(request),
            request.headers.get("user-agent"),
        )
    except ValidationFailed as exc:
        db.rollback()
        return _public_page(request, db, token, 422, errors=form_errors(exc, lang_of(request)))
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise
        db.rollback()
        return _public_page(
            request, db, token, exc.status, errors={"form": gettext(exc.message, lang_of(request))}
        )
    return _public_page(request, db, token, done="signed")


@public.post("/{token}/refuse")
async def public_refuse(token: str, request: Request, db: DbDep) -> Response:
    _limit(request)
    form = await request.form()
    try:
        service.refuse_by_token(
            db,
            token,
            form.get("reason"),
            form.get("name"),
            client_ip(request),
            request.headers.get("user-agent"),
        )
    except ValidationFailed as exc:
        db.rollback()
        return _public_page(
            request, db, token, 422, errors=form_errors(exc, lang_of(request)), refuse_open=True
        )
    return _public_page(request, db, token, done="refused")


router.include_router(quotes)
router.include_router(public)
