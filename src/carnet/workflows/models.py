"""Workflows: a trigger and a graph of steps, saved as immutable versions, and the runs they start."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from carnet.core import clock
from carnet.core.db import Base, IdMixin, JSONType, OwnedMixin, TimestampMixin, VersionedMixin

RUN_STATUSES = ("running", "waiting", "completed", "failed", "stopped", "cancelled", "skipped")
OPEN_RUN_STATUSES = ("running", "waiting")
STEP_STATUSES = ("running", "completed", "failed", "waiting", "simulated")


class Workflow(IdMixin, TimestampMixin, OwnedMixin, VersionedMixin, Base):
    """What the list shows. `trigger_type` / `record_type` copy the current version's trigger so
    the event consumer finds the candidate workflows with one indexed query."""

    __tablename__ = "workflows"
    __table_args__ = (Index("ix_workflows_active_trigger", "active", "trigger_type"),)

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    trigger_type: Mapped[str] = mapped_column(String(40), default="manual")
    record_type: Mapped[str | None] = mapped_column(String(40))
    template_key: Mapped[str | None] = mapped_column(String(60))
    # The secret part of the incoming-webhook URL: /api/v1/workflows/hooks/{token}.
    webhook_token: Mapped[str] = mapped_column(String(64), unique=True)
    webhook_rate: Mapped[str | None] = mapped_column(String(40))  # e.g. "30/minute"; default from settings
    activated_at: Mapped[datetime | None] = mapped_column()


class WorkflowVersion(IdMixin, Base):
    """One saved definition. Never changed once the workflow ran it or was active with it."""

    __tablename__ = "workflow_versions"
    __table_args__ = (UniqueConstraint("workflow_id", "number"),)

    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    # Set when the version was first active or ran: from then on edits make a new version.
    frozen: Mapped[bool] = mapped_column(Boolean, default=False)


class WorkflowRun(IdMixin, Base):
    """One execution of one version. `trigger_event_id` is the domain event's id, or a synthetic
    occurrence key ("no_activity:deal:12:<since>", "schedule:<slot>", "webhook:<uuid>"...): a given
    event or occurrence starts a given workflow at most once."""

    __tablename__ = "workflow_runs"
    __table_args__ = (
        UniqueConstraint("workflow_id", "trigger_event_id"),
        Index("ix_workflow_runs_workflow_started", "workflow_id", "started_at"),
        Index("ix_workflow_runs_record", "record_type", "record_id"),
    )

    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(ForeignKey("workflow_versions.id", ondelete="CASCADE"))
    version_number: Mapped[int] = mapped_column(Integer)
    trigger_event_id: Mapped[str] = mapped_column(String(160))
    trigger: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # type, changes, webhook body
    record_type: Mapped[str | None] = mapped_column(String(40))
    record_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="running", index=True)
    depth: Mapped[int] = mapped_column(Integer, default=0)
    test: Mapped[bool] = mapped_column(Boolean, default=False)
    started_by_id: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(default=clock.now)
    finished_at: Mapped[datetime | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)
    # The step to run next, and a counter that makes a duplicate job for an old position a no-op.
    cursor: Mapped[str | None] = mapped_column(String(60))
    cursor_seq: Mapped[int] = mapped_column(Integer, default=0)


class WorkflowRunStep(IdMixin, Base):
    """One attempt at one step of a run."""

    __tablename__ = "workflow_run_steps"
    __table_args__ = (Index("ix_workflow_run_steps_run", "run_id", "id"),)

    run_id: Mapped[int] = mapped_column(ForeignKey("workflow_runs.id", ondelete="CASCADE"))
    step_id: Mapped[str] = mapped_column(String(60))
    step_type: Mapped[str] = mapped_column(String(20))
    seq: Mapped[int] = mapped_column(Integer, default=0)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(20), default="running")
    input: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    output: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(default=clock.now)
    finished_at: Mapped[datetime | None] = mapped_column()


class WorkflowEventOrigin(Base):
    """Which run caused a domain event, and at what depth: the loop protection reads it."""

    __tablename__ = "workflow_event_origins"

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    run_id: Mapped[int] = mapped_column(Integer, index=True)
    workflow_id: Mapped[int] = mapped_column(Integer)
    depth: Mapped[int] = mapped_column(Integer)


class WorkflowRotation(Base):
    """Round-robin state per (workflow, department): the last user given a record."""

    __tablename__ = "workflow_rotations"

    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"), primary_key=True)
    department_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_user_id: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)
