"""Outgoing email through SMTP: every email is a row first, then a `mail.send` job delivers it.

`queue_email` is what services call (inside their transaction: the email leaves only if the change
that causes it commits). The job sends a text and an HTML part, plus attachments, to the server of
`CARNET_SMTP_URL`; temporary failures (4xx replies, connection errors) are retried on a fixed
schedule, permanent ones (5xx) fail at once. With no SMTP server configured the row is kept with
the status `not_sent`, so nothing is silently dropped and admins see why.
"""

from __future__ import annotations

import html
import logging
import re
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from carnet.core import clock, jobs
from carnet.core.context import Actor
from carnet.core.db import Base, get_database
from carnet.core.errors import FieldErrors, PermissionDenied
from carnet.settings import get_settings

log = logging.getLogger("carnet.mail")

QUEUED, RETRYING, SENT, FAILED, NOT_SENT = "queued", "retrying", "sent", "failed", "not_sent"
STATUSES = (QUEUED, RETRYING, SENT, FAILED, NOT_SENT)
STATUS_LABELS = {
    QUEUED: "Queued",
    RETRYING: "Waiting to retry",
    SENT: "Sent",
    FAILED: "Failed",
    NOT_SENT: "Not sent: no SMTP configured",
}
NO_SMTP_ERROR = "No SMTP server configured (CARNET_SMTP_URL)"
# Delay before each new attempt after a temporary failure: 7 attempts over about 10 hours.
RETRY_DELAYS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=3),
    timedelta(hours=6),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
SMTP_TIMEOUT = 30.0


class OutgoingEmail(Base):
    __tablename__ = "outgoing_emails"
    __table_args__ = (Index("ix_outgoing_emails_record", "record_type", "record_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    to_address: Mapped[str] = mapped_column(String(320))
    from_address: Mapped[str] = mapped_column(String(320))
    reply_to: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(250))
    status: Mapped[str] = mapped_column(String(12), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()
    # What the email is about (a task, a quote...) and to which user it goes, when it is one.
    record_type: Mapped[str | None] = mapped_column(String(60))
    record_id: Mapped[int | None] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)


class OutgoingEmailAttachment(Base):
    __tablename__ = "outgoing_email_attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email_id: Mapped[int] = mapped_column(ForeignKey("outgoing_emails.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(120))
    content: Mapped[bytes] = mapped_column(LargeBinary)


@dataclass(frozen=True)
class MailAttachment:
    filename: str
    content: bytes
    content_type: str = "application/octet-stream"


# -- queueing -------------------------------------------------------------------------------------


def smtp_configured() -> bool:
    return bool(get_settings().smtp_url)


def html_from_text(text: str) -> str:
    """The HTML part of an email written as plain text: paragraphs and line breaks kept."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    body = "\n".join(
        "<p>" + "<br>\n".join(html.escape(line) for line in p.splitlines()) + "</p>" for p in paragraphs
    )
    return f'<!doctype html>\n<html><body style="font-family:sans-serif;line-height:1.5">\n{body}\n</body></html>\n'


def _clean_address(value: str, name: str, errors: FieldErrors) -> str:
    display, address = parseaddr(value or "")
    try:
        normalized = validate_email(address.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        errors.add(name, "Enter a valid email address", "invalid_email")
        return ""
    return f"{display} <{normalized}>" if display else normalized


def queue_email(
    db: Session,
    to: str,
    subject: str,
    text: str,
    html_body: str | None = None,
    *,
    attachments: Sequence[MailAttachment] = (),
    record_type: str | None = None,
    record_id: int | None = None,
    user_id: int | None = None,
    reply_to: str | None = None,
) -> OutgoingEmail:
    """Add an email row (and its `mail.send` job) to the caller's transaction. Without an SMTP
    server the row is kept as `not_sent`. `html_body` defaults to the text turned into HTML."""
    settings = get_settings()
    errors = FieldErrors()
    to_address = _clean_address(to, "to", errors)
    reply = _clean_address(reply_to, "reply_to", errors) if reply_to else None
    subject = " ".join((subject or "").split())  # no header injection through line breaks
    if not subject:
        errors.add("subject", "This field is required", "required")
    errors.raise_if_any()
    sender = settings.mail_from
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    email = OutgoingEmail(
        created_at=clock.now(),
        to_address=to_address,
        from_address=sender,
        reply_to=reply,
        subject=subject[:300],
        text_body=text,
        html_body=html_body or html_from_text(text),
        message_id=make_msgid(domain=domain),
        status=QUEUED if settings.smtp_url else NOT_SENT,
        error=None if settings.smtp_url else NO_SMTP_ERROR,
        attempts=0,
        record_type=record_type,
        record_id=record_id,
        user_id=user_id,
    )
    db.add(email)
    db.flush()
    for item in attachments:
        db.add(
            OutgoingEmailAttachment(
                email_id=email.id,
                filename=item.filename,
                content_type=item.content_type,
                content=item.content,
            )
        )
    if email.status == QUEUED:
        _schedule(db, email.id, clock.now())
    return email


def _schedule(db: Session, email_id: int, due_at: datetime) -> None:
    jobs.enqueue(db, "mail.send", {"email_id": email_id}, due_at=due_at, key=f"mail:{email_id}")


# -- building and sending -------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    username: str | None
    password: str | None
    security: str  # "ssl" (smtps://), "starttls" or "none"
    timeout: float


def parse_smtp_url(url: str) -> SmtpConfig:
    """`smtp://user:pass@host:587?starttls=true` or `smtps://user:pass@host:465` (`timeout=` in
    seconds is optional). User and password are percent-decoded."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("CARNET_SMTP_URL must look like smtp://user:pass@host:587?starttls=true")
    query = {k: v[-1].lower() for k, v in parse_qs(parts.query).items()}
    if parts.scheme == "smtps":
        security = "ssl"
    else:
        security = "starttls" if query.get("starttls") in ("true", "1", "yes") else "none"
    default_port = 465 if security == "ssl" else 587 if security == "starttls" else 25
    return SmtpConfig(
        host=parts.hostname,
        port=parts.port or default_port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        security=security,
        timeout=float(query.get("timeout") or SMTP_TIMEOUT),
    )


def build_message(email: OutgoingEmail, attachments: Sequence[OutgoingEmailAttachment]) -> EmailMessage:
    """multipart/alternative (text, HTML), inside multipart/mixed when there are attachments."""
    message = EmailMessage()
    message["From"] = email.from_address
    message["To"] = email.to_address
    if email.reply_to:
        message["Reply-To"] = email.reply_to
    message["Subject"] = email.subject
    message["Date"] = format_datetime(clock.now())
    message["Message-ID"] = email.message_id
    message.set_content(email.text_body)
    message.add_alternative(email.html_body, subtype="html")
    for item in attachments:
        maintype, _, subtype = item.content_type.partition("/")
        message.add_attachment(
            item.content, maintype=maintype, subtype=subtype or "octet-stream", filename=item.filename
        )
    return message


def smtp_send(config: SmtpConfig, message: EmailMessage) -> None:
    """One SMTP session: connect (TLS or STARTTLS), log in when a user is given, send."""
    client: smtplib.SMTP
    if config.security == "ssl":
        client = smtplib.SMTP_SSL(
            config.host, config.port, timeout=config.timeout, context=ssl.create_default_context()
        )
    else:
        client = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
    with client:
        if config.security == "starttls":
            client.starttls(context=ssl.create_default_context())
        if config.username:
            client.login(config.username, config.password or "")
        client.send_message(message)


def _reply_text(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return f"{code} {text}".strip()


def classify(exc: Exception) -> tuple[bool, str]:
    """(permanent?, error text) of a failed send: 5xx replies are permanent, 4xx replies and
    connection problems are temporary."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = list(exc.recipients.values())
        permanent = bool(replies) and all(500 <= code < 600 for code, _ in replies)
        return permanent, "; ".join(_reply_text(code, msg) for code, msg in replies)
    if isinstance(exc, smtplib.SMTPResponseException):
        return 500 <= exc.smtp_code < 600, _reply_text(exc.smtp_code, exc.smtp_error)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return True, f"The SMTP server does not support it: {exc}"
    if isinstance(exc, smtplib.SMTPServerDisconnected | OSError):
        return False, f"Connection failed: {exc or type(exc).__name__}"
    return False, f"{type(exc).__name__}: {exc}"


def deliver(email_id: int) -> datetime | None:
    """Send one email. Returns when to try again after a temporary failure, None when there is
    nothing more to do (sent, failed for good, not sendable). Safe to run twice: a sent email is
    never sent again. No transaction is held open during the SMTP conversation."""
    settings = get_settings()
    database = get_database()
    with database.begin() as db:
        email = db.get(OutgoingEmail, email_id)
        if email is None or email.status not in (QUEUED, RETRYING):
            return None
        if not settings.smtp_url:
            email.status, email.error, email.next_attempt_at = NOT_SENT, NO_SMTP_ERROR, None
            return None
        email.attempts += 1
        attempt = email.attempts
        attachments = list(
            db.scalars(
                select(OutgoingEmailAttachment)
                .where(OutgoingEmailAttachment.email_id == email_id)
                .order_by(OutgoingEmailAttachment.id)
            )
        )
        message = build_message(email, attachments)
    try:
        smtp_send(parse_smtp_url(settings.smtp_url), message)
    except Exception as exc:  # every failure is recorded on the row, then retried or failed
        permanent, error = classify(exc)
        log.warning("email %s attempt %s failed: %s", email_id, attempt, error)
        with database.begin() as db:
            email = db.get(OutgoingEmail, email_id)
            if email is None:
                return None
            email.error = error[:2000]
            if permanent or attempt >= MAX_ATTEMPTS:
                email.status, email.next_attempt_at = FAILED, None
                return None
            email.status = RETRYING
            email.next_attempt_at = clock.now() + RETRY_DELAYS[attempt - 1]
            return email.next_attempt_at
    with database.begin() as db:
        email = db.get(OutgoingEmail, email_id)
        if email is not None:
            email.status, email.sent_at, email.error, email.next_attempt_at = SENT, clock.now(), None, None
    return None


# The row counts attempts and decides when to give up; the job's own limit only catches a worker
# dying mid-send over and over.
@jobs.task("mail.send", queue="mail", max_attempts=MAX_ATTEMPTS + 3)
def send_job(payload: dict[str, Any]) -> None:
    retry_at = deliver(int(payload["email_id"]))
    if retry_at is not None:
        raise jobs.Retry(at=retry_at, reason="temporary SMTP failure")


# -- reading (admins) -----------------------------------------------------------------------------


def require_admin(actor: Actor) -> None:
    if not actor.can("emails:read"):
        raise PermissionDenied()


def list_emails(
    db: Session, actor: Actor, status: str | None = None, before_id: int | None = None, limit: int = 50
) -> list[OutgoingEmail]:
    """Newest first; `before_id` pages back."""
    require_admin(actor)
    stmt = select(OutgoingEmail).order_by(OutgoingEmail.id.desc()).limit(limit)
    if status in STATUSES:
        stmt = stmt.where(OutgoingEmail.status == status)
    if before_id is not None:
        stmt = stmt.where(OutgoingEmail.id < before_id)
    return list(db.scalars(stmt))


def status_counts(db: Session, actor: Actor) -> dict[str, Any]:
    require_admin(actor)
    rows = db.execute(select(OutgoingEmail.status, func.count()).group_by(OutgoingEmail.status))
    return {status: count for status, count in rows}
