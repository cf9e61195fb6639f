"""The establishment portal: secret, expiring links to a project that the establishment's staff open
without an account, to follow the project and send requests (training, support, order, question).

Link management is for the users who can see the project; the public side (`link_for_token`,
`portal_view`, `submit_request`) trusts nothing but the token. Only the SHA-256 of a token is
stored: the URL is shown once, when the link is created.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet.accounts.models import User
from carnet.activities import service as activities
from carnet.core import audit, clock, i18n, identifiers, lifecycle, mail, security
from carnet.core.context import Actor
from carnet.core.errors import DomainError, FieldErrors, NotFound, ValidationFailed
from carnet.notifications import service as notifications
from carnet.organisations.models import Organisation
from carnet.projects import service as projects
from carnet.projects.models import (
    COMPLETED,
    OPEN_STATUSES,
    PORTAL_REQUEST_KINDS,
    PortalLink,
    PortalRequest,
    Project,
    ProjectPhase,
    ProjectSettings,
    ProjectTask,
)
from carnet.settings import get_settings
from carnet.tasks import service as tasks
from carnet.tasks.models import Task

RECORD_TYPE = projects.RECORD_TYPE

# The owner hears of each request (in-app and, by default, by email).
notifications.TYPES["portal_request"] = notifications.NotificationType(
    "portal_request", "Requests from establishment portals", True
)

TOKEN_BYTES = 32
DEFAULT_LINK_DAYS = 90
MAX_LINK_DAYS = 365
LABEL_MAX = 120
OWNER_MESSAGE_MAX = 2000
REQUEST_MESSAGE_MAX = 4000
ANSWER_MAX = 10000
TITLE_WORDS = 8
REQUEST_DUE_BUSINESS_DAYS = 2
REQUEST_DUE_HOUR = 18  # end of the working day, Paris time
PARIS = ZoneInfo("Europe/Paris")
# A signed form token ties a submission to a page the portal rendered recently.
FORM_TOKEN_HOURS = 12

KIND_LABELS = {"training": "Training", "support": "Support", "order": "Order request", "question": "Question"}
# What a link may show; each is off unless the owner ticks it ("message" is the owner's text).
SHARE_FLAGS = ("phases", "upcoming", "task_descriptions", "contact")
SHARE_LABELS = {
    "phases": "Phases (names, state and dates)",
    "upcoming": "Upcoming steps (open tasks: title and due date)",
    "task_descriptions": "Descriptions of the upcoming steps",
    "contact": "My contact details (name, email, phone)",
}


class LinkGone(DomainError):
    """A link that existed but expired or was revoked: the page says so (410), nothing more."""

    status = 410
    code = "link_gone"
    title = "This link is no longer valid"


# -- the managing side (users of Carnet) ---------------------------------------------------------


def get_project(db: Session, actor: Actor, project_id: Any) -> Project:
    """The project whose portal `actor` manages (team members included); NotFound otherwise."""
    return projects.get_project(db, actor, project_id)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def portal_url(token: str) -> str:
    return f"{get_settings().base_url.rstrip('/')}/p/{token}"


def link_days_default(db: Session) -> int:
    row = db.get(ProjectSettings, 1)
    return row.portal_link_days if row is not None and row.portal_link_days else DEFAULT_LINK_DAYS


def list_links(db: Session, actor: Actor, project: Project) -> list[PortalLink]:
    lifecycle.require(actor, RECORD_TYPE, "read")
    stmt = select(PortalLink).where(PortalLink.project_id == project.id)
    return list(db.scalars(stmt.order_by(PortalLink.created_at.desc(), PortalLink.id.desc())))


def link_state(link: PortalLink, now: datetime | None = None) -> str:
    """active, expired or revoked."""
    if link.revoked_at is not None:
        return "revoked"
    return "expired" if (now or clock.now()) >= link.expires_at else "active"


def link_to_read(link: PortalLink) -> dict[str, Any]:
    return {
        "id": link.id,
        "project_id": link.project_id,
        "label": link.label,
        "shares": {
            **{flag: bool((link.shares or {}).get(flag)) for flag in SHARE_FLAGS},
            "contact_phone": (link.shares or {}).get("contact_phone"),
            "message": (link.shares or {}).get("message"),
        },
        "state": link_state(link),
        "expires_at": link.expires_at,
        "revoked_at": link.revoked_at,
        "last_used_at": link.last_used_at,
        "created_at": link.created_at,
        "created_by_id": link.created_by_id,
    }


def request_to_read(row: PortalRequest) -> dict[str, Any]:
    return {
        name: getattr(row, name)
        for name in (
            "id",
            "project_id",
            "link_id",
            "kind",
            "name",
            "email",
            "phone",
            "message",
            "activity_id",
            "task_id",
            "created_at",
            "answered_at",
            "answered_by_id",
            "answer",
        )
    }


def _clean_days(value: Any, default: int, errors: FieldErrors, name: str = "expires_in_days") -> int:
    if value is None or value == "":
        return default
    try:
        if isinstance(value, bool):
            raise ValueError
        days = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        errors.add(name, "Enter a whole number of days", "invalid_number")
        return default
    if not 1 <= days <= MAX_LINK_DAYS:
        errors.add(
            name, "Enter a number of days between {min} and {max}", "out_of_range", min=1, max=MAX_LINK_DAYS
        )
    return days


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "on", "yes")
    return bool(value)


def _clean_shares(data: dict[str, Any], errors: FieldErrors) -> dict[str, Any]:
    raw = data.get("shares") or {}
    if not isinstance(raw, dict):
        errors.add("shares", "Invalid value", "invalid")
        return {}
    unknown = set(raw) - set(SHARE_FLAGS) - {"message", "contact_phone"}
    if unknown:
        errors.add("shares", "Unknown part: {names}", "unknown", names=", ".join(sorted(unknown)))
    shares: dict[str, Any] = {flag: _flag(raw.get(flag)) for flag in SHARE_FLAGS}
    message = raw.get("message")
    message = message.strip() if isinstance(message, str) else None
    if message and len(message) > OWNER_MESSAGE_MAX:
        errors.add("shares.message", "At most {max} characters", "too_long", max=OWNER_MESSAGE_MAX)
    shares["message"] = message or None
    # Users have no phone number in Carnet: the owner gives the one the establishment should call.
    phone = identifiers.clean_phone(raw.get("contact_phone"), errors, "shares.contact_phone")
    shares["contact_phone"] = phone
    return shares


def _link_snapshot(link: PortalLink) -> dict[str, Any]:
    return {
        "label": link.label,
        "shares": link.shares,
        "expires_at": link.expires_at,
        "revoked_at": link.revoked_at,
    }


@dataclass
class CreatedLink:
    link: PortalLink
    token: str  # shown once: only its SHA-256 is stored
    url: str


def create_link(db: Session, actor: Actor, project: Project, data: dict[str, Any]) -> CreatedLink:
    """data: label, expires_in_days (default: the module setting, at most 365), shares {phases,
    upcoming, task_descriptions, contact: bool, message, contact_phone}."""
    lifecycle.require(actor, RECORD_TYPE, "update")
    errors = FieldErrors()
    label = data.get("label")
    label = label.strip() if isinstance(label, str) else None
    if label and len(label) > LABEL_MAX:
        errors.add("label", "At most {max} characters", "too_long", max=LABEL_MAX)
    days = _clean_days(data.get("expires_in_days"), min(link_days_default(db), MAX_LINK_DAYS), errors)
    shares = _clean_shares(data, errors)
    errors.raise_if_any()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = clock.now()
    link = PortalLink(
        project_id=project.id,
        token_hash=hash_token(token),
        label=label or None,
        shares=shares,
        expires_at=now + timedelta(days=days),
        created_at=now,
        created_by_id=actor.user_id,
    )
    db.add(link)
    db.flush()
    audit.record(
        db,
        actor,
        "portal_link_create",
        RECORD_TYPE,
        project.id,
        audit.diff({}, {"link_id": link.id, **_link_snapshot(link)}),
        f"{project.name}: portal link {label or link.id}",
    )
    db.commit()
    return CreatedLink(link, token, portal_url(token))


def get_link(db: Session, actor: Actor, project: Project, link_id: Any) -> PortalLink:
    try:
        number = int(link_id)
    except (TypeError, ValueError):
        raise NotFound()
    link = db.get(PortalLink, number)
    if link is None or link.project_id != project.id:
        raise NotFound()
    return link


def revoke_link(db: Session, actor: Actor, project: Project, link: PortalLink) -> PortalLink:
    """The link stops working at once; revoking it twice changes nothing."""
    lifecycle.require(actor, RECORD_TYPE, "update")
    if link.revoked_at is not None:
        return link
    link.revoked_at = clock.now()
    audit.record(
        db,
        actor,
        "portal_link_revoke",
        RECORD_TYPE,
        project.id,
        {"link_id": link.id, "revoked_at": {"old": None, "new": link.revoked_at}},
        f"{project.name}: portal link {link.label or link.id} revoked",
    )
    db.commit()
    return link


def extend_link(db: Session, actor: Actor, project: Project, link: PortalLink, days: Any) -> PortalLink:
    """The link expires `days` from now (an expired link works again; a revoked one stays revoked)."""
    lifecycle.require(actor, RECORD_TYPE, "update")
    errors = FieldErrors()
    if days is None or days == "":
        errors.add("days", "This field is required", "required")
    number = _clean_days(days, 0, errors, "days")
    if link.revoked_at is not None:
        errors.add("days", "A revoked link cannot be extended; create a new one", "revoked")
    errors.raise_if_any()
    before = link.expires_at
    link.expires_at = clock.now() + timedelta(days=number)
    audit.record(
        db,
        actor,
        "portal_link_extend",
        RECORD_TYPE,
        project.id,
        {"link_id": link.id, "expires_at": {"old": before, "new": link.expires_at}},
        f"{project.name}: portal link {link.label or link.id} extended",
    )
    db.commit()
    return link


def list_requests(db: Session, actor: Actor, project: Project) -> list[PortalRequest]:
    lifecycle.require(actor, RECORD_TYPE, "read")
    stmt = select(PortalRequest).where(PortalRequest.project_id == project.id)
    return list(db.scalars(stmt.order_by(PortalRequest.created_at.desc(), PortalRequest.id.desc())))


def get_request(db: Session, actor: Actor, project: Project, request_id: Any) -> PortalRequest:
    try:
        number = int(request_id)
    except (TypeError, ValueError):
        raise NotFound()
    row = db.get(PortalRequest, number)
    if row is None or row.project_id != project.id:
        raise NotFound()
    return row


def answer_request(
    db: Session, actor: Actor, project: Project, row: PortalRequest, message: Any
) -> PortalRequest:
    """Email the answer to the requester (from the outbox, reply-to the actor) and log it as an
    email activity on the establishment, in one transaction."""
    lifecycle.require(actor, RECORD_TYPE, "update")
    text = message.strip() if isinstance(message, str) else ""
    errors = FieldErrors()
    if not text:
        errors.add("message", "This field is required", "required")
    elif len(text) > ANSWER_MAX:
        errors.add("message", "At most {max} characters", "too_long", max=ANSWER_MAX)
    errors.raise_if_any()
    user = db.get(User, actor.user_id) if actor.user_id is not None else None
    kind = KIND_LABELS_FR[row.kind]
    subject = f"Réponse à votre demande ({kind.lower()}) – {project.name}"
    body = f"Bonjour {row.name},\n\n{text}\n\n"
    body += "Votre demande :\n> " + "\n> ".join(row.message.splitlines())
    if user is not None:
        body += f"\n\n{user.full_name}\n{user.email}"
    email = mail.queue_email(
        db,
        row.email,
        subject,
        body,
        record_type=RECORD_TYPE,
        record_id=project.id,
        user_id=actor.user_id,
        reply_to=user.email if user is not None else None,
    )
    now = clock.now()
    before = {"answer": row.answer, "answered_at": row.answered_at, "answered_by_id": row.answered_by_id}
    row.answer, row.answered_at, row.answered_by_id = text, now, actor.user_id
    db.flush()
    with _steps_of(db) as inner:
        activities.create_activity(
            inner,
            actor,
            {
                "kind": "email",
                "subject": f"Réponse portail : {kind}"[:200],
                "body": f"À {row.name} <{row.email}>\n\n{text}",
                "organisation_id": project.organisation_id,
                "owner_id": actor.user_id if actor.user_id is not None else project.owner_id,
            },
        )
    audit.record(
        db,
        actor,
        "portal_request_answer",
        RECORD_TYPE,
        project.id,
        {
            "request_id": row.id,
            "email_id": email.id,
            **audit.diff(before, {"answer": text, "answered_at": now, "answered_by_id": actor.user_id}),
        },
        f"{project.name}: portal request {row.id} answered",
    )
    db.commit()
    return row


# -- the public side (no account) ----------------------------------------------------------------

# The requester's kinds, in French: the activity and the task are written for the French team
# whatever language the establishment's staff reads the portal in.
KIND_LABELS_FR = {"training": "Formation", "support": "Support", "order": "Commande", "question": "Question"}


def link_for_token(db: Session, token: str) -> PortalLink:
    """The link a public URL opens: NotFound for an unknown token, LinkGone when it expired or was
    revoked, or when its project was cancelled (a completed project stays readable)."""
    if not token or len(token) > 200:
        raise NotFound()
    link = db.scalar(select(PortalLink).where(PortalLink.token_hash == hash_token(token)))
    if link is None:
        raise NotFound()
    project = db.get(Project, link.project_id)
    if project is None:
        raise NotFound()
    if link_state(link) != "active" or project.status not in (*OPEN_STATUSES, COMPLETED):
        raise LinkGone()
    return link


def form_token(link: PortalLink, now: datetime | None = None) -> str:
    """A stateless anti-forgery token for the request form: the page time, signed with the link."""
    issued = int((now or clock.now()).timestamp())
    return f"{issued}.{security.sign(f'portal-form:{link.id}:{link.token_hash}:{issued}')}"


def form_token_valid(link: PortalLink, candidate: Any) -> bool:
    if not isinstance(candidate, str) or "." not in candidate:
        return False
    issued_text, _, signature = candidate.partition(".")
    if not issued_text.isdigit():
        return False
    issued = int(issued_text)
    age = clock.now().timestamp() - issued
    if not -300 <= age <= FORM_TOKEN_HOURS * 3600:
        return False
    expected = security.sign(f"portal-form:{link.id}:{link.token_hash}:{issued}")
    return secrets.compare_digest(expected, signature)


@dataclass
class PhaseItem:
    name: str
    state: str
    started_at: datetime | None
    closed_at: datetime | None


@dataclass
class StepItem:
    title: str
    due_at: datetime | None
    description: str | None


@dataclass
class PortalView:
    """Only what the link shares: the parts the owner did not tick stay None."""

    project_name: str
    establishment: str
    shares: dict[str, Any]
    phases: list[PhaseItem] | None = None
    upcoming: list[StepItem] | None = None
    contact: dict[str, str | None] | None = None
    message: str | None = None
    kinds: dict[str, str] = field(default_factory=lambda: dict(KIND_LABELS))


def portal_view(db: Session, link: PortalLink) -> PortalView:
    project = db.get(Project, link.project_id)
    assert project is not None  # link_for_token checked it
    organisation = db.get(Organisation, project.organisation_id)
    shares = link.shares or {}
    view = PortalView(
        project_name=project.name,
        establishment=organisation.name if organisation is not None else "",
        shares=shares,
    )
    if shares.get("phases"):
        rows = db.scalars(
            select(ProjectPhase).where(ProjectPhase.project_id == project.id).order_by(ProjectPhase.position)
        )
        view.phases = [PhaseItem(p.name, p.state, p.started_at, p.closed_at) for p in rows]
    if shares.get("upcoming"):
        view.upcoming = _upcoming_steps(db, project, bool(shares.get("task_descriptions")))
    if shares.get("contact") and project.owner_id is not None:
        owner = db.get(User, project.owner_id)
        if owner is not None and owner.active:
            view.contact = {
                "name": owner.full_name,
                "email": owner.email,
                "phone": shares.get("contact_phone"),
            }
    view.message = shares.get("message") or None
    return view


def _upcoming_steps(db: Session, project: Project, with_descriptions: bool) -> list[StepItem]:
    """Open tasks of the open phase and the next one, soonest first (undated last)."""
    positions = (project.current_phase, project.current_phase + 1)
    rows = db.scalars(
        select(Task)
        .join(ProjectTask, ProjectTask.task_id == Task.id)
        .where(
            ProjectTask.project_id == project.id,
            ProjectTask.position.in_(positions),
            Task.status.in_(tasks.OPEN_STATUSES),
        )
        .order_by(Task.due_at.is_(None), Task.due_at, Task.id)
    )
    return [StepItem(t.title, t.due_at, t.description if with_descriptions else None) for t in rows]


def _public_actor(name: str, ip: str | None, user_agent: str | None) -> Actor:
    """Who acts when the establishment's staff submit a request (no account): the audit trail shows
    their name; the records they create are the owner's."""
    return Actor(
        user_id=None,
        role="system",
        is_admin=True,
        label=f"{name} (portail)"[:200],
        ip=ip,
        user_agent=user_agent,
    )


def _clean_request(data: dict[str, Any]) -> dict[str, Any]:
    errors = FieldErrors()
    out: dict[str, Any] = {}
    kind = data.get("kind")
    kind = kind.strip().lower() if isinstance(kind, str) else ""
    if kind not in PORTAL_REQUEST_KINDS:
        errors.add("kind", "Choose the kind of request", "invalid_choice")
    out["kind"] = kind
    name = data.get("name")
    name = " ".join(name.split()) if isinstance(name, str) else ""
    if not name:
        errors.add("name", "This field is required", "required")
    elif len(name) > 120:
        errors.add("name", "At most {max} characters", "too_long", max=120)
    out["name"] = name
    email = data.get("email")
    if email is None or (isinstance(email, str) and not email.strip()):
        errors.add("email", "This field is required", "required")
        out["email"] = None
    else:
        out["email"] = identifiers.clean_email(email, errors, "email")
        if out["email"] and len(out["email"]) > 320:
            errors.add("email", "Enter a valid email address", "invalid_email")
    out["phone"] = identifiers.clean_phone(data.get("phone"), errors, "phone")
    message = data.get("message")
    message = message.strip() if isinstance(message, str) else ""
    if not message:
        errors.add("message", "This field is required", "required")
    elif len(message) > REQUEST_MESSAGE_MAX:
        errors.add("message", "At most {max} characters", "too_long", max=REQUEST_MESSAGE_MAX)
    out["message"] = message
    errors.raise_if_any()
    return out


def add_business_days(day: date, count: int) -> date:
    """`count` working days after `day` (Monday to Friday; public holidays are not known here)."""
    while count > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            count -= 1
    return day


def request_due_at(now: datetime) -> datetime:
    local_day = now.astimezone(PARIS).date()
    due_day = add_business_days(local_day, REQUEST_DUE_BUSINESS_DAYS)
    return datetime.combine(due_day, time(REQUEST_DUE_HOUR), PARIS).astimezone(UTC)


def task_title(kind: str, message: str) -> str:
    words = re.split(r"\s+", message.strip())
    head = " ".join(words[:TITLE_WORDS])
    if len(words) > TITLE_WORDS:
        head += "…"
    return f"{KIND_LABELS_FR[kind]} : {head}"[:200]


@contextmanager
def _steps_of(db: Session) -> Iterator[Session]:
    """A session on the caller's connection whose commits only release savepoints: the other
    services' create_* functions (which commit) become steps of the caller's one transaction."""
    db.flush()
    inner = Session(bind=db.connection(), join_transaction_mode="create_savepoint", expire_on_commit=False)
    inner.info.update(db.info)  # visibility scopes already read
    try:
        yield inner
    finally:
        inner.close()


def record_view(db: Session, link: PortalLink) -> None:
    """Remember that the link was opened (at most one write an hour per link)."""
    now = clock.now()
    if link.last_used_at is None or now - link.last_used_at >= timedelta(hours=1):
        link.last_used_at = now
        db.commit()


def submit_request(
    db: Session,
    token: str,
    data: dict[str, Any],
    ip: str | None,
    user_agent: str | None,
    signed_form: Any,
) -> PortalRequest:
    """In one transaction: the request, an activity on the establishment (kind note, subject
    "Demande portail : <kind>"), a task on the project for its owner due in 2 working days, the
    owner's notification, the link's last use. `signed_form` is the page's `form_token`. Field
    errors leave nothing written."""
    link = link_for_token(db, token)
    project = db.get(Project, link.project_id)
    assert project is not None
    if not form_token_valid(link, signed_form):
        raise ValidationFailed.on(
            "form", "The form expired; reload the page and send it again", "form_expired"
        )
    clean = _clean_request(data)
    actor = _public_actor(clean["name"], ip, user_agent)
    kind = KIND_LABELS_FR[clean["kind"]]
    requester = f"{clean['name']} <{clean['email']}>" + (f", {clean['phone']}" if clean["phone"] else "")
    now = clock.now()
    try:
        with _steps_of(db) as inner:
            activity = activities.create_activity(
                inner,
                actor,
                {
                    "kind": "note",
                    "subject": f"Demande portail : {kind}",
                    "body": f"Projet : {project.name}\nDe : {requester}\n\n{clean['message']}",
                    "organisation_id": project.organisation_id,
                    "owner_id": project.owner_id,
                },
            )
            task = tasks.create_task(
                inner,
                actor,
                {
                    "title": task_title(clean["kind"], clean["message"]),
                    "description": f"De : {requester}\n\n{clean['message']}",
                    "due_at": request_due_at(now),
                    "priority": "high" if clean["kind"] == "support" else "normal",
                    "record_type": RECORD_TYPE,
                    "record_id": project.id,
                    "owner_id": project.owner_id,
                },
            )
            activity_id, task_id = activity.id, task.id
        row = PortalRequest(
            project_id=project.id,
            link_id=link.id,
            kind=clean["kind"],
            name=clean["name"],
            email=clean["email"],
            phone=clean["phone"],
            message=clean["message"],
            ip=(ip or None) and ip[:45],
            activity_id=activity_id,
            task_id=task_id,
            created_at=now,
        )
        db.add(row)
        link.last_used_at = now
        db.flush()
        audit.record(
            db,
            actor,
            "portal_request",
            RECORD_TYPE,
            project.id,
            {"request_id": row.id, "kind": clean["kind"], "name": clean["name"], "email": clean["email"]},
            f"{project.name}: portal request ({kind})",
        )
        owner = db.get(User, project.owner_id) if project.owner_id is not None else None
        if owner is not None:
            lang = owner.language
            notifications.notify(
                db,
                owner.id,
                "portal_request",
                i18n.gettext(
                    "Portal request ({kind}): {project}",
                    lang,
                    kind=i18n.gettext(KIND_LABELS[clean["kind"]], lang),
                    project=project.name,
                ),
                f"{requester}\n\n{clean['message']}",
                RECORD_TYPE,
                project.id,
                key=f"portal_request:{row.id}",
            )
        db.commit()
    except BaseException:
        db.rollback()
        raise
    return row
