"""Tags per record type, attached to records through one generic table."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    bindparam,
    delete,
    exists,
    func,
    insert,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from carnet.core import audit, memo
from carnet.core.context import Actor
from carnet.core.db import Base, IdMixin, Prepared, TimestampMixin, ids_param, in_ids
from carnet.core.errors import Conflict, FieldErrors, NotFound, PermissionDenied


class Tag(IdMixin, TimestampMixin, Base):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("record_type", "name"),)

    record_type: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(60))
    color: Mapped[str] = mapped_column(String(20), default="")


class Tagging(Base):
    __tablename__ = "taggings"
    __table_args__ = (Index("ix_taggings_record", "record_type", "record_id"),)

    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    record_type: Mapped[str] = mapped_column(String(60), primary_key=True)
    record_id: Mapped[int] = mapped_column(Integer, primary_key=True)


def clean_names(names: Any, errors: FieldErrors) -> list[str]:
    if names is None:
        return []
    if isinstance(names, str):
        names = [n for n in names.split(",")]
    if not isinstance(names, list):
        errors.add("tags", "Must be a list of names", "invalid_type")
        return []
    out: list[str] = []
    for raw in names:
        name = str(raw).strip()
        if not name:
            continue
        if len(name) > 60:
            errors.add("tags", "A tag is at most 60 characters", "too_long")
            continue
        if name.lower() not in (n.lower() for n in out):
            out.append(name)
    return out


def set_tags(
    db: Session, actor: Actor, module: str, record_type: str, record_id: int, names: list[str]
) -> list[str]:
    """Replace the tags of one record, creating missing tags when the actor may."""
    existing = {t.name.lower(): t for t in db.scalars(select(Tag).where(Tag.record_type == record_type))}
    tag_ids: list[int] = []
    for name in names:
        tag = existing.get(name.lower())
        if tag is None:
            if not actor.can("tags:create"):
                raise PermissionDenied("You may not create new tags")
            tag = Tag(record_type=record_type, name=name, created_by_id=actor.user_id)
            db.add(tag)
            db.flush()
            existing[name.lower()] = tag
        tag_ids.append(tag.id)
    db.execute(delete(Tagging).where(Tagging.record_type == record_type, Tagging.record_id == record_id))
    for tag_id in tag_ids:
        db.add(Tagging(tag_id=tag_id, record_type=record_type, record_id=record_id))
    return [existing[n.lower()].name for n in names]


def unknown_names(db: Session, record_type: str, names: list[str]) -> list[str]:
    """The names among `names` that no tag of `record_type` has yet (compared ignoring case)."""
    known = memo.cached(
        db,
        ("tag_names", record_type),
        lambda: {n.lower() for n in db.scalars(select(Tag.name).where(Tag.record_type == record_type))},
    )
    return [n for n in names if n.lower() not in known]


def require_can_create(db: Session, actor: Actor, record_type: str, names: list[str]) -> None:
    """PermissionDenied when `names` needs a new tag the actor may not create (what `set_tags`
    would refuse), checked before anything is written."""
    if names and not actor.can("tags:create") and unknown_names(db, record_type, names):
        raise PermissionDenied("You may not create new tags")


def set_tags_many(
    db: Session, actor: Actor, record_type: str, names_by_record: dict[int, list[str]]
) -> dict[int, list[str]]:
    """`set_tags` for many records at once: missing tags created, the records' taggings replaced
    in one DELETE and one INSERT. Call `require_can_create` for each record first."""
    wanted = {id_: names for id_, names in names_by_record.items() if names is not None}
    if not wanted:
        return {}
    existing = {t.name.lower(): t for t in db.scalars(select(Tag).where(Tag.record_type == record_type))}
    for names in wanted.values():
        for name in names:
            if name.lower() not in existing:
                if not actor.can("tags:create"):
                    raise PermissionDenied("You may not create new tags")
                tag = Tag(record_type=record_type, name=name, created_by_id=actor.user_id)
                db.add(tag)
                existing[name.lower()] = tag
    db.flush()
    memo.prime(db, {("tag_names", record_type): set(existing)})
    ids = list(wanted)
    db.execute(delete(Tagging).where(Tagging.record_type == record_type, in_ids(db, Tagging.record_id, ids)))
    rows = [
        {"tag_id": existing[name.lower()].id, "record_type": record_type, "record_id": record_id}
        for record_id, names in wanted.items()
        for name in names
    ]
    if rows:
        db.execute(insert(Tagging.__table__), rows)
    return {record_id: [existing[n.lower()].name for n in names] for record_id, names in wanted.items()}


TAGS_FOR = Prepared(
    lambda dialect: (
        select(Tagging.record_id, Tag.name)
        .join(Tag, Tag.id == Tagging.tag_id)
        .where(Tagging.record_type == bindparam("record_type"), ids_param(dialect, Tagging.record_id))
        .order_by(Tag.name)
    )
)


def tags_for(db: Session, record_type: str, record_ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = defaultdict(list)
    if not record_ids:
        return out
    rows = db.execute(TAGS_FOR(db), {"record_type": record_type, "ids": list(record_ids)})
    for record_id, name in rows:
        out[record_id].append(name)
    return out


def has_tag(record_type: str, id_column: Any, name: str) -> Any:
    return exists(
        select(Tagging.record_id)
        .join(Tag, Tag.id == Tagging.tag_id)
        .where(
            Tagging.record_type == record_type,
            Tagging.record_id == id_column,
            func.lower(Tag.name) == name.lower(),
        )
    )


def remove_record(db: Session, record_type: str, record_id: int) -> None:
    db.execute(delete(Tagging).where(Tagging.record_type == record_type, Tagging.record_id == record_id))


def list_tags(db: Session, record_type: str | None = None) -> list[Tag]:
    stmt = select(Tag).order_by(Tag.record_type, Tag.name)
    if record_type:
        stmt = stmt.where(Tag.record_type == record_type)
    return list(db.scalars(stmt))


def get_tag(db: Session, tag_id: int) -> Tag:
    tag = db.get(Tag, tag_id)
    if tag is None:
        raise NotFound()
    return tag


def create_tag(db: Session, actor: Actor, data: dict[str, Any]) -> Tag:
    from carnet.core import records

    if not actor.can("tags:create"):
        raise PermissionDenied()
    errors = FieldErrors()
    if data.get("record_type") not in records.REGISTRY:
        errors.add("record_type", "Unknown record type", "unknown")
    names = clean_names([data.get("name") or ""], errors)
    if not names:
        errors.add("name", "This field is required", "required")
    errors.raise_if_any()
    if db.scalar(
        select(Tag.id).where(Tag.record_type == data["record_type"], func.lower(Tag.name) == names[0].lower())
    ):
        raise Conflict("This tag already exists")
    tag = Tag(
        record_type=data["record_type"],
        name=names[0],
        color=(data.get("color") or "")[:20],
        created_by_id=actor.user_id,
    )
    db.add(tag)
    db.flush()
    audit.record(db, actor, "create", "tag", tag.id, {"name": {"old": None, "new": tag.name}}, tag.name)
    db.commit()
    return tag


def update_tag(db: Session, actor: Actor, tag: Tag, data: dict[str, Any]) -> Tag:
    if not actor.can("tags:update"):
        raise PermissionDenied()
    old = {"name": tag.name, "color": tag.color}
    errors = FieldErrors()
    if "name" in data:
        names = clean_names([data.get("name") or ""], errors)
        if not names:
            errors.add("name", "This field is required", "required")
        errors.raise_if_any()
        clash = db.scalar(
            select(Tag.id).where(Tag.record_type == tag.record_type, func.lower(Tag.name) == names[0].lower())
        )
        if clash and clash != tag.id:
            raise Conflict("This tag already exists")
        tag.name = names[0]
    if "color" in data:
        tag.color = (data.get("color") or "")[:20]
    audit.record(
        db, actor, "update", "tag", tag.id, audit.diff(old, {"name": tag.name, "color": tag.color}), tag.name
    )
    db.commit()
    return tag


def delete_tag(db: Session, actor: Actor, tag: Tag) -> None:
    if not actor.can("tags:delete"):
        raise PermissionDenied()
    audit.record(db, actor, "delete", "tag", tag.id, {"name": {"old": tag.name, "new": None}}, tag.name)
    db.execute(delete(Tagging).where(Tagging.tag_id == tag.id))
    db.delete(tag)
    db.commit()
