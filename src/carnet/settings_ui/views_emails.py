"""Outgoing emails (admins): every email Carnet sent or tried to send, newest first, and whether
an SMTP server is configured at all."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from carnet.api.deps import DbDep
from carnet.core import mail
from carnet.settings import get_settings
from carnet.web.shell import WebActor, render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50


@router.get("/settings/emails")
def emails_page(
    request: Request, db: DbDep, actor: WebActor, status: str = "", before: int | None = None
) -> Response:
    rows = mail.list_emails(db, actor, status or None, before, PAGE_SIZE + 1)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return render(
        request,
        "settings_ui/emails.html",
        emails=rows,
        next_before=rows[-1].id if more and rows else None,
        status=status if status in mail.STATUSES else "",
        counts=mail.status_counts(db, actor),
        statuses=mail.STATUS_LABELS,
        smtp_configured=mail.smtp_configured(),
        mail_from=get_settings().mail_from,
    )
