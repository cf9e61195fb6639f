"""API shapes of the establishment portal: links (with what they share) and the requests received."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class PortalShares(BaseModel):
    """What the establishment sees; every part is hidden unless set."""

    model_config = ConfigDict(extra="forbid")

    phases: bool = Field(default=False, description="Phase names, state and dates")
    upcoming: bool = Field(
        default=False, description="Open tasks of the open and next phase: title and due date"
    )
    task_descriptions: bool = Field(default=False, description="Also the descriptions of those tasks")
    contact: bool = Field(default=False, description="The project owner's name, email and `contact_phone`")
    contact_phone: str | None = Field(default=None, max_length=40, description="Phone shown with the contact")
    message: str | None = Field(default=None, max_length=2000, description="A message from the owner")


class PortalLinkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str | None = Field(default=None, max_length=120, description="e.g. the department it is for")
    expires_in_days: int | None = Field(
        default=None, description="1 to 365; default: the projects setting `portal_link_days` (90)"
    )
    shares: PortalShares = Field(default_factory=PortalShares)


class PortalLinkExtend(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: int = Field(description="The link expires this many days from now (1 to 365)")


class PortalLinkRead(BaseModel):
    id: int
    project_id: int
    label: str | None
    shares: PortalShares
    state: str = Field(description="active, expired or revoked")
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    created_at: datetime
    created_by_id: int | None


class PortalLinkCreated(PortalLinkRead):
    token: str = Field(description="Shown once: only its SHA-256 is stored")
    url: str = Field(description="The link to give the establishment")


class PortalRequestRead(BaseModel):
    id: int
    project_id: int
    link_id: int | None
    kind: str = Field(description="training, support, order or question")
    name: str
    email: str
    phone: str | None
    message: str
    activity_id: int | None
    task_id: int | None
    created_at: datetime
    answered_at: datetime | None
    answered_by_id: int | None
    answer: str | None


class PortalAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(max_length=10000, description="Emailed to the requester")
