"""Attachments: files stored under the configured folder, referenced by record type and id.

Names are sanitised, sizes capped, types checked against an allow list by extension and by the
first bytes (an `.png` holding HTML is refused). Downloads are always served as attachments.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from datetime import datetime
from pathlib import Path

from sqlalchemy import ForeignKey, Index, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from carnet.core import audit, clock
from carnet.core.context import Actor
from carnet.core.db import Base
from carnet.core.errors import NotFound, PayloadTooLarge, ValidationFailed
from carnet.settings import get_settings

ALLOWED = {
    ".pdf": ("application/pdf", [b"%PDF"]),
    ".png": ("image/png", [b"\x89PNG"]),
    ".jpg": ("image/jpeg", [b"\xff\xd8\xff"]),
    ".jpeg": ("image/jpeg", [b"\xff\xd8\xff"]),
    ".gif": ("image/gif", [b"GIF8"]),
    ".webp": ("image/webp", [b"RIFF"]),
    ".txt": ("text/plain", []),
    ".csv": ("text/csv", []),
    ".docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", [b"PK"]),
    ".xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", [b"PK"]),
    ".pptx": ("application/vnd.openxmlformats-officedocument.presentationml.presentation", [b"PK"]),
    ".odt": ("application/vnd.oasis.opendocument.text", [b"PK"]),
    ".ods": ("application/vnd.oasis.opendocument.spreadsheet", [b"PK"]),
    ".doc": ("application/msword", [b"\xd0\xcf\x11\xe0"]),
    ".xls": ("application/vnd.ms-excel", [b"\xd0\xcf\x11\xe0"]),
    ".eml": ("message/rfc822", []),
}


class Attachment(Base):
    __tablename__ = "attachments"
    __table_args__ = (Index("ix_attachments_record", "record_type", "record_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_type: Mapped[str] = mapped_column(String(60))
    record_id: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(120))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(255), unique=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


def sanitise_filename(name: str) -> str:
    name = Path(name.replace("\\", "/")).name
    name = unicodedata.normalize("NFKC", name)
    name = re.sub(r"[^\w.\- ()]+", "_", name, flags=re.UNICODE).strip(" .")
    return (name or "file")[:200]


def _looks_textual(content: bytes) -> bool:
    head = content[:2048].lower()
    return b"\x00" not in head and b"<script" not in head and b"<html" not in head


def store(
    db: Session, actor: Actor, record_type: str, record_id: int, filename: str, content: bytes
) -> Attachment:
    settings = get_settings()
    if len(content) > settings.attachment_max_bytes:
        raise PayloadTooLarge(
            "The file is larger than {max} MB", max=settings.attachment_max_bytes // (1024 * 1024)
        )
    clean = sanitise_filename(filename)
    ext = Path(clean).suffix.lower()
    if ext not in ALLOWED:
        raise ValidationFailed.on("file", "This type of file is not accepted", "file_type")
    content_type, magics = ALLOWED[ext]
    if magics and not any(content.startswith(m) for m in magics):
        raise ValidationFailed.on("file", "The file content does not match its extension", "file_type")
    if not magics and not _looks_textual(content):
        raise ValidationFailed.on("file", "The file content does not match its extension", "file_type")
    if not content:
        raise ValidationFailed.on("file", "The file is empty", "empty")
    now = clock.now()
    key = f"{now:%Y/%m}/{uuid.uuid4().hex}{ext}"
    path = Path(settings.storage_dir) / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    att = Attachment(
        record_type=record_type,
        record_id=record_id,
        filename=clean,
        content_type=content_type,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        storage_key=key,
        uploaded_by_id=actor.user_id,
        created_at=now,
    )
    db.add(att)
    db.flush()
    audit.record(
        db, actor, "attach", record_type, record_id, {"attachment": {"old": None, "new": clean}}, clean
    )
    return att


def list_for(db: Session, record_type: str, record_id: int) -> list[Attachment]:
    return list(
        db.scalars(
            select(Attachment)
            .where(Attachment.record_type == record_type, Attachment.record_id == record_id)
            .order_by(Attachment.id.desc())
        )
    )


def get(db: Session, attachment_id: int) -> Attachment:
    att = db.get(Attachment, attachment_id)
    if att is None:
        raise NotFound()
    return att


def read(att: Attachment) -> bytes:
    return (Path(get_settings().storage_dir) / att.storage_key).read_bytes()


def delete(db: Session, actor: Actor, att: Attachment) -> None:
    audit.record(
        db,
        actor,
        "detach",
        att.record_type,
        att.record_id,
        {"attachment": {"old": att.filename, "new": None}},
        att.filename,
    )
    db.delete(att)
    db.flush()
    (Path(get_settings().storage_dir) / att.storage_key).unlink(missing_ok=True)
