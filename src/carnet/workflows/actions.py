"""Actions in two halves: `plan` renders the params and resolves every choice (who gets the task,
which addresses, which user is next in the rotation) reading only; `apply` carries the plan out
through the domain services. Test mode shows the plan and never applies it, so what it shows is
exactly what a real run would do."""

from __future__ import annotations

import json
from collections import ChainMap
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carnet.accounts.models import User
from carnet.activities import service as activities
from carnet.core import clock
from carnet.core.errors import DomainError
from carnet.deals.models import Deal
from carnet.projects import service as projects
from carnet.tasks import service as tasks
from carnet.webhooks import client as http_client
from carnet.workflows import catalogue, outbox, variables
from carnet.workflows.context import RunContext, digest, managers, user_dict
from carnet.workflows.models import WorkflowRotation

RESPONSE_EXCERPT = 2000


class ActionError(Exception):
    """An action that could not be carried out. `permanent` ones are not retried (bad input, a
    refused target); the others (network, 5xx, 429) are, with backoff."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def render(params: Any, ctx: RunContext, extra: dict[str, Any] | None = None) -> Any:
    scope = ChainMap(extra or {}, ctx.variables)  # the variables stay lazy: only what is read loads
    try:
        return variables.render(params, scope)
    except variables.TemplateProblem as exc:
        raise ActionError(str(exc), permanent=True)


def _user(db: Session, user_id: Any) -> User | None:
    try:
        return db.get(User, int(user_id))
    except (TypeError, ValueError):
        return None


def _require_record(ctx: RunContext) -> None:
    if ctx.record is None:
        raise ActionError("This action needs a record", permanent=True)


# -- create_task ------------------------------------------------------------------------------------------


def _assignee(db: Session, ctx: RunContext, assignee: Any) -> int:
    if isinstance(assignee, dict):
        user = _user(db, assignee.get("user_id"))
        if user is None or not user.active:
            raise ActionError("The assignee is not an active user", permanent=True)
        return user.id
    chosen = ctx.manager if assignee == "manager" else ctx.owner
    if chosen is not None and chosen.active:
        return chosen.id
    if ctx.workflow.owner_id is not None:  # nobody on the record: the workflow's owner takes it
        return ctx.workflow.owner_id
    raise ActionError("No one to assign the task to", permanent=True)


def _link(ctx: RunContext) -> dict[str, Any]:
    if ctx.record_type in ("organisation", "contact", "deal"):
        return {"record_type": ctx.record_type, "record_id": ctx.record_id}
    if ctx.record_type in ("task", "activity"):
        data = ctx.variables[ctx.record_type]
        if ctx.record_type == "task" and data.get("record_type"):
            return {"record_type": data["record_type"], "record_id": data["record_id"]}
        for name in ("deal", "organisation", "contact"):
            if data.get(f"{name}_id"):
                return {"record_type": name, "record_id": data[f"{name}_id"]}
    return {}


def plan_create_task(db: Session, ctx: RunContext, params: dict[str, Any]) -> dict[str, Any]:
    rendered = render({k: params.get(k) for k in ("title", "description")}, ctx)
    days = int(params.get("due_in_days") or 0)
    return {
        "title": (rendered["title"] or "").strip()[:200],
        "description": rendered.get("description") or None,
        "due_at": (clock.now() + timedelta(days=days)).isoformat(),
        "priority": params.get("priority") or "normal",
        "owner_id": _assignee(db, ctx, params.get("assignee", "owner")),
        **_link(ctx),
    }


def apply_create_task(db: Session, ctx: RunContext, plan: dict[str, Any]) -> dict[str, Any]:
    task = tasks.create_task(db, ctx.actor, dict(plan))
    return {"task_id": task.id}


# -- log_activity -----------------------------------------------------------------------------------------


def plan_log_activity(db: Session, ctx: RunContext, params: dict[str, Any]) -> dict[str, Any]:
    _require_record(ctx)
    rendered = render({"subject": params.get("subject"), "body": params.get("body")}, ctx)
    owner_id = getattr(ctx.record, "owner_id", None) or ctx.workflow.owner_id
    return {
        "kind": params.get("kind") or "note",
        "subject": (rendered["subject"] or "").strip()[:200],
        "body": rendered.get("body") or None,
        "occurred_at": clock.now().isoformat(),
        f"{ctx.record_type}_id": ctx.record_id,
        "owner_id": owner_id,
    }


def apply_log_activity(db: Session, ctx: RunContext, plan: dict[str, Any]) -> dict[str, Any]:
    activity = activities.create_activity(db, ctx.actor, dict(plan))
    return {"activity_id": activity.id}


# -- update_fields, tags, owner ------------------------------------------------------------------------------


def plan_update_fields(db: Session, ctx: RunContext, params: dict[str, Any]) -> dict[str, Any]:
    _require_record(ctx)
    rendered = render(params.get("fields") or {}, ctx)
    data: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for name, value in rendered.items():
        if name.startswith("cf."):
            custom[name[3:]] = value
        else:
            data[name] = value
    if custom:
        data["custom_fields"] = {**(getattr(ctx.record, "custom_fields", None) or {}), **custom}
    return {"record_type": ctx.record_type, "record_id": ctx.record_id, "data": data}


def _update_record(db: Session, ctx: RunContext, data: dict[str, Any]) -> dict[str, Any]:
    assert ctx.record_type is not None
    kind = catalogue.RECORD_KINDS[ctx.record_type]
    record = kind.update(db, ctx.actor, ctx.record, data)
    return {"record_type": ctx.record_type, "record_id": ctx.record_id, "version": record.version}


def apply_update_fields(db: Session, ctx: RunContext, plan: dict[str, Any]) -> dict[str, Any]:
    return _update_record(db, ctx, plan["data"])


def plan_tag(db: Session, ctx: RunContext, params: dict[str, Any], adding: bool) -> dict[str, Any]:
    _require_record(ctx)
    tag = str(render(params.get("tag"), ctx) or "").strip()
    if not tag:
        raise ActionError("The tag is empty", permanent=True)
    current = list(ctx.variables[ctx.record_type or ""].get("tags") or [])
    if adding:
        wanted = current if tag.lower() in (t.lower() for t in current) else [*current, tag]
    else:
        wanted = [t for t in current if t.lower() != tag.lower()]
    return {"tag": tag, "tags": wanted, "changed": wanted != current}


def apply_tag(db: Session, ctx: RunContext, plan: dict[str, Any]) -> dict[str, Any]:
    if not plan["changed"]:
        return {"tags": plan["tags"], "changed": False}
    _update_record(db, ctx, {"tags": plan["tags"]})
    return {"tags": plan["tags"], "changed": True}


def _department_users(db: Session, department_id: int) -> list[int]:
    return list(
        db.scalars(
            select(User.id)
            .where(User.department_id == department_id, User.active.is_(True))
            .order_by(User.id)
        )
    )


def plan_assign_owner(db: Session, ctx: RunContext, params: dict[str, Any]) -> dict[str, Any]:
    _require_record(ctx)
    strategy = params.get("strategy")
    if strategy == "user":
        user = _user(db, params.get("user_id"))
        if user is None or not user.active:
            raise ActionError("The user is not active", permanent=True)
        return {"strategy": strategy, "owner_id": user.id}
    department_id = int(params.get("department_id") or 0)
    candidates = _department_users(db, department_id)
    if not candidates:
        raise ActionError("This department has no active user", permanent=True)
    if strategy == "round_robin":
        rotation = db.get(WorkflowRotation, (ctx.workflow.id, department_id))
        last = rotation.last_user_id if rotation is not None else None
        after = [uid for uid in candidates if last is not None and uid > last]
        chosen = after[0] if after else candidates[0]
    else:  # least_open_deals
        counts = dict(
            db.execute(
                select(Deal.owner_id, func.count())
                .where(Deal.owner_id.in_(candidates), Deal.status == "open")
                .group_by(Deal.owner_id)
            ).all()
        )
        chosen = min(candidates, key=lambda uid: (counts.get(uid, 0), uid))
    return {"strategy": strategy, "department_id": department_id, "owner_id": chosen}


def apply_assign_owner(db: Session, ctx: RunContext, plan: dict[str, Any]) -> dict[str, Any]:
    if plan["strategy"] == "round_robin":
        key = (ctx.workflow.id, plan["department_id"])
        rotation = db.get(WorkflowRotation, key)
        if rotation is None:
            db.add(WorkflowRotation(workflow_id=key[0], department_id=key[1], last_user_id=plan["owner_id"]))
        else:
            rotation.last_user_id = plan["owner_id"]
        db.flush()
    if getattr(ctx.record, "owner_id", None) == plan["owner_id"]:
        return {"owner_id": plan["owner_id"], "changed": False}
    _update_record(db, ctx, {"owner_id": plan["owner_id"]})
    return {"owner_id": plan["owner_id"], "changed": True}


# -- email and notifications ---------------------------------------------------------------------------------


def _recipients(db: Session, ctx: RunContext, to: Any, need_user: bool) -> list[tuple[str, User | None]]:
    """[(email, user or None)] for a `to` of owner / manager / managers / contact / address."""
    if to == "owner":
        return [(ctx.owner.email, ctx.owner)] if ctx.owner is not None and ctx.owner.active else []
    if to == "manager":
        return [(ctx.manager.email, ctx.manager)] if ctx.manager is not None else []
    if to == "managers":
        return [(u.email, u) for u in managers(db)]
    if to == "contact":
        if need_user:
            return []
        contact = ctx.variables.get("contact") or {}
        email = contact.get("primary_email") or (contact.get("emails") or [None])[0]
        return [(email, None)] if email else []
    address = str(render(to, ctx) or "").strip()
    if not address:
        return []
    user = db.scalar(select(User).where(func.lower(User.email) == address.lower()))
    if need_user and user is None:
        raise ActionError(f"No user with the address {address}", permanent=True)
    if "@" not in address or any(c in address for c in " \r\n,;"):
        raise ActionError(f"Not an email address: {address}", permanent=True)
    return [(address, user)]


def _per_recipient(ctx: RunContext, db: Session, user: User | None, to: Any) -> dict[str, Any]:
    extra: dict[str, Any] = {"recipient": user_dict(user)}
    if "digest" in ctx.variables and to == "managers" and user is not None:
        extra["digest"] = digest(db, user.department_id)
    return extra


def plan_send_email(db: Session, ctx: RunContext, params: dict[str, Any]) -> dict[str, Any]:
    to = params.get("to")
    messages = []
    for email, user in _recipients(db, ctx, to, need_user=False):
        extra = _per_recipient(ctx, db, user, to)
        rendered = render({k: params.get(k) for k in ("subject", "body", "html")}, ctx, extra)
        messages.append(
            {
                "to": email,
                "user_id": user.id if user is not None else None,
                "subject": " ".join(str(rendered["subject"] or "").split())[:300],
                "text": rendered["body"] or "",
                "html": rendered.get("html") or None,
            }
        )
    return {"messages": messages}


def apply_send_email(db: Session, ctx: RunContext, plan: dict[str, Any]) -> dict[str, Any]:
    ids = [
        outbox.send_email(
            db,
            m["to"],
            m["subject"],
            m["text"],
            m["html"],
            record_type=ctx.record_type,
            record_id=ctx.record_id,
            user_id=m["user_id"],
        )
        for m in plan["messages"]
    ]
    return {"email_ids": ids, "sent_to": [m["to"] for m in plan["messages"]]}


def plan_notify(db: Session, ctx: RunContext, params: dict[str, Any]) -> dict[str, Any]:
    to = params.get("to")
    notes = []
    for _email, user in _recipients(db, ctx, to, need_user=True):
        if user is None:
            continue
        extra = _per_recipient(ctx, db, user, to)
        rendered = render({"title": params.get("title"), "body": params.get("body")}, ctx, extra)
        notes.append(
            {"user_id": user.id, "title": str(rendered["title"] or "")[:300], "body": rendered["body"] or ""}
        )
    return {"notifications": notes}


def apply_notify(db: Session, ctx: RunContext, plan: dict[str, Any], key: str) -> dict[str, Any]:
    ids = [
        outbox.notify(
            db,
            n["user_id"],
            n["title"],
            n["body"],
            record_type=ctx.record_type,
            record_id=ctx.record_id,
            key=f"{key}:{n['user_id']}",
        )
        for n in plan["notifications"]
    ]
    return {"notification_ids": ids, "user_ids": [n["user_id"] for n in plan["notifications"]]}


# -- outgoing HTTP ------------------------------------------------------------------------------------------


def _send(method: str, url: str, headers: dict[str, str], body: Any) -> dict[str, Any]:
    """Through the webhooks' guarded client: http(s) only, no redirects, 10 s timeout, and the
    private/loopback/link-local refusal applied at connection time, on the address actually used
    (unless CARNET_WEBHOOK_ALLOW_PRIVATE_TARGETS is on)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ActionError("Only http and https URLs are allowed", permanent=True)
    try:
        kwargs: dict[str, Any] = {"headers": headers}
        if body is not None:
            kwargs["json"] = body
        response = http_client.client().request(method, url, **kwargs)
    except http_client.TargetRefused as exc:
        raise ActionError(f"Refused: {exc}", permanent=True)
    except httpx.HTTPError as exc:
        raise ActionError(f"{type(exc).__name__}: {exc}")
    out = {"status_code": response.status_code, "response": response.text[:RESPONSE_EXCERPT]}
    if response.status_code >= 400:
        transient = response.status_code == 429 or response.status_code >= 500
        raise ActionError(f"HTTP {response.status_code}: {response.text[:200]}", permanent=not transient)
    return out


def plan_chat(db: Session, ctx: RunContext, params: dict[str, Any], service: str) -> dict[str, Any]:
    text = str(render(params.get("text"), ctx) or "")
    url = str(render(params.get("webhook_url"), ctx) or "")
    # Slack and Teams incoming webhooks both take {"text": ...}.
    return {"service": service, "url": url, "body": {"text": text}}


def apply_chat(db: Session, ctx: RunContext, plan: dict[str, Any]) -> dict[str, Any]:
    return _send("POST", plan["url"], {}, plan["body"])


def plan_http(db: Session, ctx: RunContext, params: dict[str, Any]) -> dict[str, Any]:
    body = params.get("body")
    rendered_body = render(body, ctx)
    if isinstance(body, str) and rendered_body:
        try:
            rendered_body = json.loads(rendered_body)
        except ValueError:
            raise ActionError("The body does not render to JSON", permanent=True)
    return {
        "method": str(params.get("method") or "POST").upper(),
        "url": str(render(params.get("url"), ctx) or ""),
        "headers": {str(k): str(v) for k, v in (render(params.get("headers") or {}, ctx)).items()},
        "body": rendered_body if body not in (None, "") else None,
    }


def apply_http(db: Session, ctx: RunContext, plan: dict[str, Any]) -> dict[str, Any]:
    return _send(plan["method"], plan["url"], plan["headers"], plan["body"])


# -- create_project ----------------------------------------------------------------------------------------


def plan_create_project(db: Session, ctx: RunContext, params: dict[str, Any]) -> dict[str, Any]:
    """A project of the deal's organisation (the deal linked to it) or of the organisation itself,
    owned by the record's owner unless `owner` says otherwise; `target_days` after today."""
    _require_record(ctx)
    if ctx.record_type == "deal":
        organisation_id, deal_ids = ctx.record.organisation_id, [ctx.record.id]
        if organisation_id is None:
            raise ActionError("The deal has no organisation", permanent=True)
    elif ctx.record_type == "organisation":
        organisation_id, deal_ids = ctx.record.id, []
    else:
        raise ActionError("This action needs a deal or an organisation", permanent=True)
    start = projects.today()
    days = params.get("target_days")
    name = str(render(params.get("name"), ctx) or "").strip()
    return {
        "template_id": params.get("template_id"),
        "organisation_id": organisation_id,
        "deal_ids": deal_ids,
        "owner_id": _assignee(db, ctx, params.get("owner", "owner")),
        "name": name[:200] or None,
        "start_date": start.isoformat(),
        "target_date": (start + timedelta(days=int(days))).isoformat() if days not in (None, "") else None,
    }


def apply_create_project(db: Session, ctx: RunContext, plan: dict[str, Any]) -> dict[str, Any]:
    try:
        project = projects.create_project(db, ctx.actor, dict(plan))
    except projects.DuplicateProject as exc:
        raise ActionError(
            f"This establishment already has an open project from this template (project {exc.existing_id})",
            permanent=True,
        )
    return {"project_id": project.id}


# -- dispatch ----------------------------------------------------------------------------------------------

# Actions that write to the database: applied inside the step's transaction. The others reach the
# network and run outside any transaction (SQLite has one writer).
NETWORK_ACTIONS = ("slack", "teams", "http_request")


def plan(db: Session, ctx: RunContext, action: str, params: dict[str, Any]) -> dict[str, Any]:
    try:
        if action == "create_task":
            return plan_create_task(db, ctx, params)
        if action == "log_activity":
            return plan_log_activity(db, ctx, params)
        if action == "update_fields":
            return plan_update_fields(db, ctx, params)
        if action in ("add_tag", "remove_tag"):
            return plan_tag(db, ctx, params, adding=action == "add_tag")
        if action == "assign_owner":
            return plan_assign_owner(db, ctx, params)
        if action == "send_email":
            return plan_send_email(db, ctx, params)
        if action == "notify":
            return plan_notify(db, ctx, params)
        if action in ("slack", "teams"):
            return plan_chat(db, ctx, params, action)
        if action == "http_request":
            return plan_http(db, ctx, params)
        if action == "create_project":
            return plan_create_project(db, ctx, params)
    except DomainError as exc:
        raise ActionError(str(exc), permanent=True)
    raise ActionError(f"Unknown action {action}", permanent=True)


def apply(db: Session, ctx: RunContext, action: str, planned: dict[str, Any], key: str) -> dict[str, Any]:
    """Carry out a plan; `key` identifies the step attempt series (deduplicates notifications)."""
    try:
        if action == "create_task":
            return apply_create_task(db, ctx, planned)
        if action == "log_activity":
            return apply_log_activity(db, ctx, planned)
        if action == "update_fields":
            return apply_update_fields(db, ctx, planned)
        if action in ("add_tag", "remove_tag"):
            return apply_tag(db, ctx, planned)
        if action == "assign_owner":
            return apply_assign_owner(db, ctx, planned)
        if action == "send_email":
            return apply_send_email(db, ctx, planned)
        if action == "notify":
            return apply_notify(db, ctx, planned, key)
        if action in ("slack", "teams"):
            return apply_chat(db, ctx, planned)
        if action == "http_request":
            return apply_http(db, ctx, planned)
        if action == "create_project":
            return apply_create_project(db, ctx, planned)
    except DomainError as exc:
        detail = "; ".join(f"{e.field}: {e.message.format(**e.params)}" for e in exc.errors)
        raise ActionError(f"{exc}{' — ' + detail if detail else ''}", permanent=True)
    raise ActionError(f"Unknown action {action}", permanent=True)
