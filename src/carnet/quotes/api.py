"""JSON routes of quotes: /api/v1/quotes with /{id}/pdf, /{id}/send, /{id}/versions, accept/refuse."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from carnet.api.common import Page, body_dict, if_match_version, list_params, set_etag
from carnet.api.deps import ActorDep, DbDep, Requires
from carnet.quotes import service
from carnet.quotes.schemas import (
    QuoteAccept,
    QuoteCreate,
    QuoteRead,
    QuoteRefuse,
    QuoteSend,
    QuoteSent,
    QuoteUpdate,
    QuoteVersionRead,
)

router = APIRouter(prefix="/quotes", tags=["quotes"])


def _data(body: Any) -> dict[str, Any]:
    data = body_dict(body)
    if body.lines is not None:
        data["lines"] = [line.model_dump(exclude_unset=True) for line in body.lines]
    return data


def _pdf(content: bytes, filename: str) -> Response:
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


@router.get("", response_model=Page[QuoteRead], dependencies=[Depends(Requires("quotes:read"))])
def list_quotes(request: Request, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Filters: `status=sent,accepted`, `organisation_id=`, `deal_id=`, `valid_until__lte=`,
    `total_net__gte=`...; `q` searches the number and title; `sort=-total_net|valid_until|...`."""
    rows, cursor = service.list_quotes(db, actor, list_params(request))
    return {"items": [service.to_read(db, q) for q in rows], "next_cursor": cursor}


@router.post("", status_code=201, response_model=QuoteRead)
def create_quote(body: QuoteCreate, db: DbDep, actor: ActorDep, response: Response) -> dict[str, Any]:
    """The number comes from the company's pattern; validity defaults to the company's (30 days)."""
    quote = service.create_quote(db, actor, _data(body))
    set_etag(response, quote)
    response.headers["Location"] = f"/api/v1/quotes/{quote.id}"
    return service.to_read(db, quote)


@router.get("/{quote_id}", response_model=QuoteRead)
def get_quote(quote_id: int, db: DbDep, actor: ActorDep, response: Response) -> dict[str, Any]:
    quote = service.get_quote(db, actor, quote_id)
    set_etag(response, quote)
    return service.to_read(db, quote)


@router.patch("/{quote_id}", response_model=QuoteRead)
def update_quote(
    quote_id: int, body: QuoteUpdate, request: Request, db: DbDep, actor: ActorDep, response: Response
) -> dict[str, Any]:
    """A draft changes in place; a sent, refused or expired quote gets a new version (back to
    draft, its link revoked); an accepted quote answers 409."""
    quote = service.get_quote(db, actor, quote_id)
    quote = service.update_quote(db, actor, quote, _data(body), if_match_version(request))
    set_etag(response, quote)
    return service.to_read(db, quote)


@router.delete("/{quote_id}", status_code=204)
def delete_quote(quote_id: int, request: Request, db: DbDep, actor: ActorDep) -> Response:
    """Only a quote never sent can be deleted (409 otherwise)."""
    quote = service.get_quote(db, actor, quote_id)
    service.delete_quote(db, actor, quote, if_match_version(request))
    return Response(status_code=204)


@router.get("/{quote_id}/pdf", response_class=Response)
def quote_pdf(quote_id: int, db: DbDep, actor: ActorDep) -> Response:
    """The PDF of the current version (a sent version's stored PDF, or a preview of a draft)."""
    quote = service.get_quote(db, actor, quote_id)
    version = service.current_version(db, quote)
    return _pdf(service.render_version_pdf(db, quote, version), f"{quote.number}.pdf")


@router.get("/{quote_id}/versions", response_model=list[QuoteVersionRead])
def list_versions(quote_id: int, db: DbDep, actor: ActorDep) -> list[dict[str, Any]]:
    quote = service.get_quote(db, actor, quote_id)
    return [service.version_to_read(v) for v in service.list_versions(db, actor, quote)]


@router.get("/{quote_id}/versions/{number}", response_model=QuoteVersionRead)
def get_version(quote_id: int, number: int, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    quote = service.get_quote(db, actor, quote_id)
    return service.version_to_read(service.get_version(db, actor, quote, number))


@router.get("/{quote_id}/versions/{number}/pdf", response_class=Response)
def version_pdf(quote_id: int, number: int, db: DbDep, actor: ActorDep) -> Response:
    quote = service.get_quote(db, actor, quote_id)
    version = service.get_version(db, actor, quote, number)
    return _pdf(service.render_version_pdf(db, quote, version), f"{quote.number}-v{number}.pdf")


@router.get("/{quote_id}/signed-pdf", response_class=Response)
def signed_pdf(quote_id: int, db: DbDep, actor: ActorDep) -> Response:
    """The archived PDF signed by the client, with its signature page (404 if not signed)."""
    quote = service.get_quote(db, actor, quote_id)
    found = service.signatures(db, quote)
    if not found:
        from carnet.core.errors import NotFound

        raise NotFound()
    return _pdf(service.read_signed_pdf(found[-1]), f"{quote.number}-signe.pdf")


@router.post("/{quote_id}/send", response_model=QuoteSent)
def send_quote(quote_id: int, body: QuoteSend, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Freeze the current version, email its PDF with a link to the signing page (valid until
    the end of the validity date). The link is returned once: only its hash is stored."""
    quote = service.get_quote(db, actor, quote_id)
    sent = service.send_quote(db, actor, quote, body.to, body.message)
    return {"quote": service.to_read(db, sent.quote), "public_url": sent.url, "email_id": sent.email_id}


@router.post("/{quote_id}/accept", response_model=QuoteRead)
def accept_quote(quote_id: int, body: QuoteAccept, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Record a signed paper copy: the quote is accepted and its deal moves to the won stage."""
    quote = service.get_quote(db, actor, quote_id)
    service.accept_quote(db, actor, quote, body.signer_name, body.note)
    return service.to_read(db, quote)


@router.post("/{quote_id}/refuse", response_model=QuoteRead)
def refuse_quote(quote_id: int, body: QuoteRefuse, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    quote = service.get_quote(db, actor, quote_id)
    service.refuse_quote(db, actor, quote, body.reason)
    return service.to_read(db, quote)
