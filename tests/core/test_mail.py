"""Outgoing email: rows first, then the `mail.send` job talks to a real SMTP server that the test
starts on 127.0.0.1 (aiosmtpd)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carnet.core import clock, jobs, mail
from carnet.core.errors import ValidationFailed
from carnet.core.mail import MailAttachment, OutgoingEmail

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"


@pytest.fixture(autouse=True)
def _frozen(database: Any) -> None:
    clock.freeze(NOW)
    jobs._last_slot.clear()


def _queue(db: Session, **extra: Any) -> OutgoingEmail:
    email = mail.queue_email(
        db,
        "Claire Martin <claire.martin@example.fr>",
        "Votre devis D-2026-0042",
        "Bonjour Claire,\n\nVoici le devis.\nÀ bientôt",
        record_type="deal",
        record_id=42,
        **extra,
    )
    db.commit()
    return email


def _mail_jobs(db: Session) -> list[jobs.Job]:
    return list(db.scalars(select(jobs.Job).where(jobs.Job.name == "mail.send")))


def test_smtp_urls_are_parsed() -> None:
    plain = mail.parse_smtp_url("smtp://user%40corp:p%3Ass@mail.example.fr:587?starttls=true&timeout=12")
    assert plain == mail.SmtpConfig("mail.example.fr", 587, "user@corp", "p:ss", "starttls", 12.0)
    assert mail.parse_smtp_url("smtps://u:p@smtp.example.fr").port == 465
    assert mail.parse_smtp_url("smtps://u:p@smtp.example.fr").security == "ssl"
    bare = mail.parse_smtp_url("smtp://relay.local")
    assert (bare.port, bare.username, bare.security) == (25, None, "none")
    with pytest.raises(ValueError):
        mail.parse_smtp_url("http://example.fr")


def test_text_html_and_attachment_reach_the_smtp_server(db: Session, smtp_server: Any) -> None:
    email = _queue(db, attachments=[MailAttachment("devis D-2026-0042.pdf", PDF, "application/pdf")])
    assert email.status == mail.QUEUED
    assert [j.payload for j in _mail_jobs(db)] == [{"email_id": email.id}]

    jobs.drain()

    assert smtp_server.logins == [("mailer", "s3cret p@ss")]
    assert len(smtp_server.messages) == 1
    envelope, message = smtp_server.envelopes[0], smtp_server.messages[0]
    assert envelope.mail_from == "crm@example.fr"
    assert envelope.rcpt_tos == ["claire.martin@example.fr"]
    assert message["From"] == "Carnet <crm@example.fr>"
    assert message["To"] == "Claire Martin <claire.martin@example.fr>"
    assert message["Subject"] == "Votre devis D-2026-0042"
    assert message["Message-ID"] == email.message_id
    assert message.get_content_type() == "multipart/mixed"
    text = message.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
    html = message.get_body(preferencelist=("html",)).get_content().replace("\r\n", "\n")
    assert text == "Bonjour Claire,\n\nVoici le devis.\nÀ bientôt\n"
    assert "<p>Bonjour Claire,</p>" in html
    assert "<p>Voici le devis.<br>\nÀ bientôt</p>" in html
    attachments = list(message.iter_attachments())
    assert [(a.get_filename(), a.get_content_type(), a.get_content()) for a in attachments] == [
        ("devis D-2026-0042.pdf", "application/pdf", PDF)
    ]

    db.expire_all()
    sent = db.get(OutgoingEmail, email.id)
    assert (sent.status, sent.attempts, sent.error, sent.sent_at) == (mail.SENT, 1, None, NOW)
    assert (sent.record_type, sent.record_id) == ("deal", 42)

    jobs.drain()  # nothing left: a sent email is never sent again
    assert mail.deliver(email.id) is None
    assert len(smtp_server.messages) == 1


def test_explicit_html_part_is_sent_as_given(db: Session, smtp_server: Any) -> None:
    _queue(db, html_body="<h1>Devis</h1><p>Voici le devis.</p>")
    jobs.drain()
    message = smtp_server.messages[0]
    assert message.get_content_type() == "multipart/alternative"
    assert message.get_body(preferencelist=("html",)).get_content().strip() == (
        "<h1>Devis</h1><p>Voici le devis.</p>"
    )


def test_temporary_4xx_is_retried_with_backoff(db: Session, smtp_server: Any) -> None:
    smtp_server.refuse_data = ["451 4.3.0 Mailbox busy, try later"]
    email = _queue(db)

    jobs.drain()
    db.expire_all()
    row = db.get(OutgoingEmail, email.id)
    assert (row.status, row.attempts) == (mail.RETRYING, 1)
    assert row.error == "451 4.3.0 Mailbox busy, try later"
    assert row.next_attempt_at == NOW + timedelta(minutes=1)
    assert smtp_server.messages == []
    assert [(j.status, j.due_at) for j in _mail_jobs(db)] == [(jobs.QUEUED, NOW + timedelta(minutes=1))]

    clock.advance(timedelta(seconds=59))
    jobs.drain()
    assert smtp_server.messages == []

    clock.advance(timedelta(seconds=1))
    jobs.drain()
    db.expire_all()
    row = db.get(OutgoingEmail, email.id)
    assert (row.status, row.attempts, row.error) == (mail.SENT, 2, None)
    assert len(smtp_server.messages) == 1


def test_permanent_5xx_fails_at_once(db: Session, smtp_server: Any) -> None:
    smtp_server.refuse_rcpt = ["550 5.1.1 No such user here"]
    email = _queue(db)

    jobs.drain()
    clock.advance(timedelta(days=1))
    jobs.drain()

    db.expire_all()
    row = db.get(OutgoingEmail, email.id)
    assert (row.status, row.attempts, row.next_attempt_at) == (mail.FAILED, 1, None)
    assert row.error == "550 5.1.1 No such user here"
    assert smtp_server.messages == []
    assert [j.status for j in _mail_jobs(db)] == [jobs.DONE]


def test_gives_up_after_the_last_temporary_failure(db: Session, smtp_server: Any) -> None:
    smtp_server.refuse_data = ["421 4.7.0 Too many connections"] * mail.MAX_ATTEMPTS
    email = _queue(db)
    jobs.drain()
    for delay in mail.RETRY_DELAYS:
        clock.advance(delay)
        jobs.drain()
    db.expire_all()
    row = db.get(OutgoingEmail, email.id)
    assert (row.status, row.attempts) == (mail.FAILED, mail.MAX_ATTEMPTS)
    assert row.error == "421 4.7.0 Too many connections"
    assert smtp_server.refuse_data == []


def test_connection_refused_is_temporary(db: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from carnet.settings import get_settings

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("CARNET_SMTP_URL", f"smtp://127.0.0.1:{port}?timeout=2")
    get_settings.cache_clear()
    email = _queue(db)
    jobs.drain()
    db.expire_all()
    row = db.get(OutgoingEmail, email.id)
    assert (row.status, row.attempts) == (mail.RETRYING, 1)
    assert row.error.startswith("Connection failed:")


def test_without_smtp_emails_are_kept_as_not_sent(db: Session, web: Any) -> None:
    email = _queue(db)
    assert (email.status, email.error) == (mail.NOT_SENT, "No SMTP server configured (CARNET_SMTP_URL)")
    assert _mail_jobs(db) == []

    page = web("admin").get("/settings/emails")
    assert page.status_code == 200
    assert 'data-testid="no-smtp"' in page.text
    assert "claire.martin@example.fr" in page.text
    assert "Non envoyé : aucun SMTP configuré" in page.text


def test_outgoing_emails_page_is_for_admins_only(db: Session, web: Any) -> None:
    _queue(db)
    page = web("manager").get("/settings/emails")
    assert page.status_code == 403
    assert "claire.martin@example.fr" not in page.text


def test_invalid_recipient_is_refused_and_nothing_is_written(db: Session) -> None:
    before = db.scalar(select(func.count()).select_from(OutgoingEmail))
    with pytest.raises(ValidationFailed) as caught:
        mail.queue_email(db, "not an address", "Sujet", "Texte")
    assert [(e.field, e.code) for e in caught.value.errors] == [("to", "invalid_email")]
    assert db.scalar(select(func.count()).select_from(OutgoingEmail)) == before


def test_subject_line_breaks_cannot_inject_headers(db: Session, smtp_server: Any) -> None:
    mail.queue_email(db, "a@example.fr", "Hello\r\nBcc: victim@example.fr", "Texte")
    db.commit()
    jobs.drain()
    message = smtp_server.messages[0]
    assert message["Subject"] == "Hello Bcc: victim@example.fr"
    assert message["Bcc"] is None
    assert smtp_server.envelopes[0].rcpt_tos == ["a@example.fr"]
