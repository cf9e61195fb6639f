"""Projects: one project per client establishment, run through the phases of a versioned template.

A template's content (phases, their task templates, checklist, expected documents and required
fields) lives in frozen `ProjectTemplateVersion` rows as one JSON definition; editing a template adds
a version and the projects already started keep the version they were created from.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from carnet.core import clock
from carnet.core.db import Base, IdMixin, JSONType, RecordMixin, TimestampMixin

ACTIVE = "active"
ON_HOLD = "on_hold"
COMPLETED = "completed"
CANCELLED = "cancelled"
STATUSES = (ACTIVE, ON_HOLD, COMPLETED, CANCELLED)
OPEN_STATUSES = (ACTIVE, ON_HOLD)

# Phase states: a project has exactly one `open` phase while it runs; the phases before it are
# `closed`, the ones after it `pending`. A completed project has every phase closed.
PHASE_PENDING = "pending"
PHASE_OPEN = "open"
PHASE_CLOSED = "closed"

HEALTH = ("on_track", "at_risk", "late")
CONTACT_ROLES = (
    "pharmacist",
    "biomedical_engineer",
    "head_of_department",
    "purchasing",
    "management",
    "nursing_manager",
    "physician",
    "other",
)
PORTAL_REQUEST_KINDS = ("training", "support", "order", "question")


class ProjectTemplate(IdMixin, TimestampMixin, Base):
    __tablename__ = "project_templates"

    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The number of the newest version: new projects start from it.
    current_version: Mapped[int] = mapped_column(Integer, default=1)


class ProjectTemplateVersion(Base):
    """A frozen definition: `{"phases": [{"key", "name", "tasks": [...], "checklist": [...],
    "documents": [...], "required_fields": [...]}]}` (see projects.definition)."""

    __tablename__ = "project_template_versions"
    __table_args__ = (UniqueConstraint("template_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    template_id: Mapped[int] = mapped_column(
        ForeignKey("project_templates.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    created_by_id: Mapped[int | None] = mapped_column(Integer)


class Project(RecordMixin, Base):
    __tablename__ = "projects"
    __table_args__ = (
        Index("ix_projects_template_status", "template_id", "status", "current_phase"),
        Index("ix_projects_org_template_status", "organisation_id", "template_id", "status"),
    )

    name: Mapped[str] = mapped_column(String(200))
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    template_id: Mapped[int] = mapped_column(ForeignKey("project_templates.id", ondelete="RESTRICT"))
    template_version_id: Mapped[int] = mapped_column(
        ForeignKey("project_template_versions.id", ondelete="RESTRICT"), index=True
    )
    status: Mapped[str] = mapped_column(String(12), default=ACTIVE, index=True)
    start_date: Mapped[date] = mapped_column(Date)
    target_date: Mapped[date | None] = mapped_column(Date, index=True)
    # Position (0-based) of the open phase in the version's phase list; equals the number of phases
    # once the project is completed.
    current_phase: Mapped[int] = mapped_column(Integer, default=0)
    completed_at: Mapped[datetime | None] = mapped_column()
    description: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)


class ProjectPhase(Base):
    """One phase of one project: its state, dates, checklist ticks and who closed it."""

    __tablename__ = "project_phases"
    __table_args__ = (UniqueConstraint("project_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(120))
    state: Mapped[str] = mapped_column(String(10), default=PHASE_PENDING)
    started_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # {"<checklist item>": {"done": true, "by": user_id, "at": iso}}
    checklist: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class ProjectPhaseMove(Base):
    """The phase history: every open, close and reopen, with when and by whom."""

    __tablename__ = "project_phase_moves"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(10))  # opened | closed | reopened | completed
    at: Mapped[datetime] = mapped_column(default=clock.now)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(Text)


class ProjectMember(Base):
    __tablename__ = "project_members"
    __table_args__ = (UniqueConstraint("project_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(60))  # free text: "formateur", "ingénieur d'application"...


class ProjectContact(Base):
    __tablename__ = "project_contacts"
    __table_args__ = (UniqueConstraint("project_id", "contact_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(30), default="other")


class ProjectDeal(Base):
    __tablename__ = "project_deals"
    __table_args__ = (UniqueConstraint("project_id", "deal_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"), index=True)


class ProjectTask(Base):
    """Links a task (tasks table, record_type "project") to the phase that created it."""

    __tablename__ = "project_tasks"

    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # the phase
    template_task: Mapped[int | None] = mapped_column(Integer)  # index in the phase's task list


class ProjectDocument(Base):
    """Files a phase expects ("documents" of a template phase), filed against that expectation: the
    file itself is an attachment of the project (core.attachments)."""

    __tablename__ = "project_documents"
    __table_args__ = (UniqueConstraint("project_id", "position", "name", "attachment_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # the phase
    name: Mapped[str] = mapped_column(String(200))  # the expected document's name in the definition
    attachment_id: Mapped[int] = mapped_column(ForeignKey("attachments.id", ondelete="CASCADE"), index=True)
    filed_at: Mapped[datetime] = mapped_column(default=clock.now)
    filed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class PortalLink(Base):
    """A secret, expiring link the establishment's staff open without an account. Only the SHA-256
    of the token is stored; `shares` says what the owner chose to show."""

    __tablename__ = "project_portal_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(120))
    shares: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class PortalRequest(Base):
    """A request submitted through a portal link; it becomes an activity and a task on the project."""

    __tablename__ = "project_portal_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    link_id: Mapped[int | None] = mapped_column(ForeignKey("project_portal_links.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)
    ip: Mapped[str | None] = mapped_column(String(45))
    activity_id: Mapped[int | None] = mapped_column(ForeignKey("activities.id", ondelete="SET NULL"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id", ondelete="SET NULL"))
    answered_at: Mapped[datetime | None] = mapped_column()
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    answer: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class ProjectSettings(Base):
    """Module settings (one row, id 1)."""

    __tablename__ = "project_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # One active project per establishment and template: creating a second one is refused with a
    # link to the existing one (unless the caller confirms, when this is off).
    one_active_per_establishment: Mapped[bool] = mapped_column(Boolean, default=True)
    portal_link_days: Mapped[int] = mapped_column(Integer, default=90)
