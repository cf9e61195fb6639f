"""Ready-made workflows, installed in one click as disabled, editable copies.

Templates that refer to configuration (a stage, a department) look it up in this installation when
installed, keying off data (stage kind and probability, department with most users), not labels
alone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carnet.accounts.models import Department, User
from carnet.deals.models import Pipeline, Stage

PROPOSAL_NAMES = ("proposal", "proposition")


@dataclass(frozen=True)
class Template:
    key: str
    name: str
    description: str
    trigger_type: str
    build: Callable[[Session], dict[str, Any]]


def _ui(x: int, y: int) -> dict[str, int]:
    return {"x": x, "y": y}


def proposal_stage_id(db: Session) -> int | None:
    """The proposal stage of the default pipeline: by name, else the open stage nearest 50 %."""
    pipeline_id = db.scalar(
        select(Pipeline.id)
        .where(Pipeline.active.is_(True))
        .order_by(Pipeline.is_default.desc(), Pipeline.position)
    )
    if pipeline_id is None:
        return None
    stages = list(db.scalars(select(Stage).where(Stage.pipeline_id == pipeline_id).order_by(Stage.position)))
    for stage in stages:
        if stage.name.strip().lower() in PROPOSAL_NAMES:
            return stage.id
    open_stages = [s for s in stages if s.kind == "open"]
    if not open_stages:
        return None
    return min(open_stages, key=lambda s: abs(s.probability - 50)).id


def sales_department_id(db: Session) -> int | None:
    """The department with the most active users (where new leads usually go)."""
    row = db.execute(
        select(User.department_id, func.count().label("n"))
        .where(User.active.is_(True), User.department_id.is_not(None))
        .group_by(User.department_id)
        .order_by(func.count().desc(), User.department_id)
        .limit(1)
    ).first()
    if row is not None:
        return row.department_id
    return db.scalar(select(Department.id).order_by(Department.id).limit(1))


def automatic_follow_up(db: Session) -> dict[str, Any]:
    params: dict[str, Any] = {"days": 30}
    stage_id = proposal_stage_id(db)
    if stage_id is not None:
        params["stage_id"] = stage_id
    return {
        "trigger": {"type": "no_activity", "record_type": "deal", "params": params},
        "start": "task",
        "steps": {
            "task": {
                "type": "action",
                "action": "create_task",
                "label": "Follow-up task",
                "params": {
                    "title": "Relancer {{ deal.title }}",
                    "description": "Aucune activité depuis 30 jours sur cette affaire en proposition.",
                    "due_in_days": 1,
                    "priority": "high",
                    "assignee": "owner",
                },
                "next": "email",
                "ui": _ui(120, 140),
            },
            "email": {
                "type": "action",
                "action": "send_email",
                "label": "Email the owner",
                "params": {
                    "to": "owner",
                    "subject": "Relance : {{ deal.title }}",
                    "body": "Bonjour {{ owner.first_name }},\n\nL'affaire « {{ deal.title }} » "
                    "({{ deal.amount }} €) n'a eu aucune activité depuis 30 jours. "
                    "Une tâche de relance vous a été attribuée.",
                },
                "next": "big",
                "ui": _ui(120, 260),
            },
            "big": {
                "type": "condition",
                "label": "Amount over 50,000 €?",
                "if": {"all": [{"field": "amount", "op": "gt", "value": "50000"}]},
                "then": "notify",
                "else": None,
                "ui": _ui(120, 380),
            },
            "notify": {
                "type": "action",
                "action": "notify",
                "label": "Notify the manager",
                "params": {
                    "to": "manager",
                    "title": "Affaire importante sans activité : {{ deal.title }}",
                    "body": "{{ deal.amount }} € — responsable : {{ owner.full_name }}",
                },
                "next": None,
                "ui": _ui(120, 500),
            },
        },
    }


def client_onboarding(db: Session) -> dict[str, Any]:
    tasks = [
        ("kickoff", "Planifier la réunion de lancement avec {{ organisation.name }}", 2),
        ("access", "Créer les accès client pour {{ organisation.name }}", 3),
        ("training", "Organiser la formation de {{ organisation.name }}", 7),
        ("invoice", "Vérifier la première facture de {{ deal.title }}", 14),
        ("review", "Point de satisfaction à 30 jours avec {{ organisation.name }}", 30),
    ]
    steps: dict[str, Any] = {
        "welcome": {
            "type": "action",
            "action": "send_email",
            "label": "Welcome email",
            "params": {
                "to": "contact",
                "subject": "Bienvenue chez nous, {{ contact.first_name }} !",
                "body": "Bonjour {{ contact.first_name }},\n\nMerci pour votre confiance. "
                "{{ owner.full_name }} vous accompagne pour la mise en route.",
            },
            "next": "support",
            "ui": _ui(120, 140),
        },
        "support": {
            "type": "action",
            "action": "notify",
            "label": "Notify support",
            "params": {
                "to": "manager",
                "title": "Nouveau client : {{ organisation.name }}",
                "body": "Affaire gagnée : {{ deal.title }} ({{ deal.amount }} €)",
            },
            "next": "tag",
            "ui": _ui(120, 260),
        },
        "tag": {
            "type": "action",
            "action": "add_tag",
            "label": "Tag new client",
            "params": {"tag": "Nouveau client {{ now.year }}"},
            "next": "task_kickoff",
            "ui": _ui(120, 380),
        },
    }
    for i, (key, title, days) in enumerate(tasks):
        nxt = f"task_{tasks[i + 1][0]}" if i + 1 < len(tasks) else None
        steps[f"task_{key}"] = {
            "type": "action",
            "action": "create_task",
            "label": "Onboarding task",
            "params": {"title": title, "due_in_days": days, "assignee": "owner"},
            "next": nxt,
            "ui": _ui(120, 500 + 120 * i),
        }
    return {
        "trigger": {"type": "deal.won", "record_type": "deal", "params": {}},
        "start": "welcome",
        "steps": steps,
    }


def lead_nurturing(db: Session) -> dict[str, Any]:
    def email(key: str, subject: str, body: str, nxt: str, y: int) -> dict[str, Any]:
        return {
            "type": "action",
            "action": "send_email",
            "label": "Nurturing email",
            "params": {
                "to": "{{ organisation.emails[0] if organisation.emails else owner.email }}",
                "subject": subject,
                "body": body,
            },
            "next": nxt,
            "ui": _ui(120, y),
        }

    return {
        "trigger": {"type": "record.created", "record_type": "organisation", "params": {}},
        "start": "is_prospect",
        "steps": {
            "is_prospect": {
                "type": "condition",
                "label": "Prospect?",
                "if": {"all": [{"field": "type", "op": "eq", "value": "prospect"}]},
                "then": "day0",
                "else": None,
                "ui": _ui(120, 100),
            },
            "day0": email(
                "day0", "Bienvenue {{ organisation.name }}", "Merci de votre intérêt.", "wait3", 220
            ),
            "wait3": {"type": "wait", "params": {"duration": "P3D"}, "next": "day3", "ui": _ui(120, 340)},
            "day3": email(
                "day3", "Nos clients en parlent", "Quelques retours de clients comme vous.", "wait7", 460
            ),
            "wait7": {"type": "wait", "params": {"duration": "P4D"}, "next": "day7", "ui": _ui(120, 580)},
            "day7": email(
                "day7", "Un échange de 20 minutes ?", "Nous serions ravis d'en parler.", "wait14", 700
            ),
            "wait14": {"type": "wait", "params": {"duration": "P7D"}, "next": "call", "ui": _ui(120, 820)},
            "call": {
                "type": "action",
                "action": "create_task",
                "label": "Call task",
                "params": {"title": "Appeler {{ organisation.name }}", "due_in_days": 0, "assignee": "owner"},
                "next": None,
                "ui": _ui(120, 940),
            },
        },
    }


def reactivation(db: Session) -> dict[str, Any]:
    return {
        "trigger": {"type": "no_activity", "record_type": "organisation", "params": {"days": 90}},
        "start": "is_client",
        "steps": {
            "is_client": {
                "type": "condition",
                "label": "Client?",
                "if": {
                    "any": [
                        {"field": "type", "op": "eq", "value": "client"},
                        {"field": "type", "op": "eq", "value": "former_client"},
                    ]
                },
                "then": "task",
                "else": None,
                "ui": _ui(120, 100),
            },
            "task": {
                "type": "action",
                "action": "create_task",
                "label": "Reactivation call",
                "params": {
                    "title": "Reprendre contact avec {{ organisation.name }}",
                    "description": "Aucune activité depuis 90 jours.",
                    "due_in_days": 3,
                    "assignee": "owner",
                },
                "next": "tag",
                "ui": _ui(120, 220),
            },
            "tag": {
                "type": "action",
                "action": "add_tag",
                "params": {"tag": "À réactiver"},
                "next": None,
                "ui": _ui(120, 340),
            },
        },
    }


def manager_escalation(db: Session) -> dict[str, Any]:
    return {
        "trigger": {"type": "record.created", "record_type": "deal", "params": {}},
        "start": "large",
        "steps": {
            "large": {
                "type": "condition",
                "label": "Large deal?",
                "if": {"all": [{"field": "amount", "op": "gte", "value": "100000"}]},
                "then": "notify",
                "else": None,
                "ui": _ui(120, 100),
            },
            "notify": {
                "type": "action",
                "action": "notify",
                "params": {
                    "to": "manager",
                    "title": "Grosse affaire : {{ deal.title }}",
                    "body": "{{ deal.amount }} € — {{ owner.full_name }}",
                },
                "next": "email",
                "ui": _ui(120, 220),
            },
            "email": {
                "type": "action",
                "action": "send_email",
                "params": {
                    "to": "manager",
                    "subject": "Escalade : {{ deal.title }} ({{ deal.amount }} €)",
                    "body": "{{ owner.full_name }} a créé une affaire de {{ deal.amount }} €.",
                },
                "next": "review",
                "ui": _ui(120, 340),
            },
            "review": {
                "type": "action",
                "action": "create_task",
                "params": {
                    "title": "Revoir l'affaire {{ deal.title }}",
                    "due_in_days": 2,
                    "assignee": "manager",
                },
                "next": None,
                "ui": _ui(120, 460),
            },
        },
    }


def meeting_follow_up(db: Session) -> dict[str, Any]:
    return {
        "trigger": {"type": "record.created", "record_type": "activity", "params": {}},
        "start": "is_meeting",
        "steps": {
            "is_meeting": {
                "type": "condition",
                "label": "Meeting?",
                "if": {"all": [{"field": "kind", "op": "eq", "value": "meeting"}]},
                "then": "before",
                "else": None,
                "ui": _ui(120, 100),
            },
            "before": {
                "type": "wait",
                "label": "1 hour before",
                "params": {"until": "occurred_at", "offset_minutes": -60},
                "next": "remind",
                "ui": _ui(120, 220),
            },
            "remind": {
                "type": "action",
                "action": "notify",
                "params": {
                    "to": "owner",
                    "title": "Rendez-vous dans une heure : {{ activity.subject }}",
                    "body": "{{ activity.subject }} à {{ activity.occurred_at }}",
                },
                "next": "after",
                "ui": _ui(120, 340),
            },
            "after": {
                "type": "wait",
                "label": "After the meeting",
                "params": {"until": "occurred_at", "offset_minutes": 120},
                "next": "recap",
                "ui": _ui(120, 460),
            },
            "recap": {
                "type": "action",
                "action": "create_task",
                "params": {
                    "title": "Compte rendu : {{ activity.subject }}",
                    "due_in_days": 1,
                    "assignee": "owner",
                },
                "next": None,
                "ui": _ui(120, 580),
            },
        },
    }


def round_robin_leads(db: Session) -> dict[str, Any]:
    return {
        "trigger": {"type": "record.created", "record_type": "organisation", "params": {}},
        "start": "is_prospect",
        "steps": {
            "is_prospect": {
                "type": "condition",
                "label": "New lead?",
                "if": {"all": [{"field": "type", "op": "eq", "value": "prospect"}]},
                "then": "assign",
                "else": None,
                "ui": _ui(120, 100),
            },
            "assign": {
                "type": "action",
                "action": "assign_owner",
                "params": {"strategy": "round_robin", "department_id": sales_department_id(db)},
                "next": "notify",
                "ui": _ui(120, 220),
            },
            "notify": {
                "type": "action",
                "action": "notify",
                "params": {"to": "owner", "title": "Nouveau lead : {{ organisation.name }}", "body": ""},
                "next": None,
                "ui": _ui(120, 340),
            },
        },
    }


def stuck_deal_alert(db: Session) -> dict[str, Any]:
    return {
        "trigger": {"type": "no_activity", "record_type": "deal", "params": {"days": 60}},
        "start": "notify",
        "steps": {
            "notify": {
                "type": "action",
                "action": "notify",
                "params": {
                    "to": "owner",
                    "title": "Affaire bloquée : {{ deal.title }}",
                    "body": "Aucune activité depuis 60 jours.",
                },
                "next": "manager",
                "ui": _ui(120, 100),
            },
            "manager": {
                "type": "action",
                "action": "notify",
                "params": {
                    "to": "manager",
                    "title": "Affaire bloquée : {{ deal.title }}",
                    "body": "{{ owner.full_name }} — {{ deal.amount }} €",
                },
                "next": "tag",
                "ui": _ui(120, 220),
            },
            "tag": {
                "type": "action",
                "action": "add_tag",
                "params": {"tag": "Bloquée"},
                "next": None,
                "ui": _ui(120, 340),
            },
        },
    }


def lost_deal_feedback(db: Session) -> dict[str, Any]:
    return {
        "trigger": {"type": "deal.lost", "record_type": "deal", "params": {}},
        "start": "task",
        "steps": {
            "task": {
                "type": "action",
                "action": "create_task",
                "params": {
                    "title": "Recueillir le retour sur l'affaire perdue {{ deal.title }}",
                    "description": "Raison indiquée : {{ deal.lost_reason }}",
                    "due_in_days": 7,
                    "assignee": "owner",
                },
                "next": "note",
                "ui": _ui(120, 100),
            },
            "note": {
                "type": "action",
                "action": "log_activity",
                "params": {
                    "kind": "note",
                    "subject": "Affaire perdue",
                    "body": "Raison : {{ deal.lost_reason }}",
                },
                "next": None,
                "ui": _ui(120, 220),
            },
        },
    }


def weekly_digest(db: Session) -> dict[str, Any]:
    return {
        "trigger": {"type": "schedule", "params": {"cron": "0 9 * * 1", "timezone": "Europe/Paris"}},
        "start": "email",
        "steps": {
            "email": {
                "type": "action",
                "action": "send_email",
                "params": {
                    "to": "managers",
                    "subject": "Pipeline de la semaine",
                    "body": "Bonjour {{ recipient.first_name }},\n\n"
                    "Affaires en cours : {{ digest.open_deals }} ({{ digest.open_amount }} €)\n"
                    "Gagnées ces 7 derniers jours : {{ digest.won_deals_7_days }} "
                    "({{ digest.won_amount_7_days }} €)\n"
                    "Sans activité depuis 30 jours : {{ digest.stale_deals }}",
                },
                "next": None,
                "ui": _ui(120, 100),
            },
        },
    }


TEMPLATES: dict[str, Template] = {
    t.key: t
    for t in (
        Template(
            "automatic_follow_up",
            "Automatic follow-up",
            "A deal in the proposal stage for 30 days without activity: a task and an email for its "
            "owner, and the manager notified when the amount is over 50,000 €.",
            "no_activity",
            automatic_follow_up,
        ),
        Template(
            "client_onboarding",
            "New client onboarding",
            "Deal won: welcome email, support notified, 5 onboarding tasks, tagged as a new client "
            "of the year.",
            "deal.won",
            client_onboarding,
        ),
        Template(
            "lead_nurturing",
            "Lead nurturing",
            "New prospect organisation: emails on days 0, 3 and 7, then a call task on day 14.",
            "record.created",
            lead_nurturing,
        ),
        Template(
            "client_reactivation",
            "Reactivation of inactive clients",
            "A client with no activity for 90 days: a call task and a tag.",
            "no_activity",
            reactivation,
        ),
        Template(
            "manager_escalation",
            "Manager escalation for large deals",
            "A new deal of 100,000 € or more: the manager is notified, emailed and asked to review.",
            "record.created",
            manager_escalation,
        ),
        Template(
            "meeting_follow_up",
            "Meeting follow-up",
            "A meeting is planned: a reminder 1 hour before, a recap task after.",
            "record.created",
            meeting_follow_up,
        ),
        Template(
            "round_robin_leads",
            "Round-robin assignment of new leads",
            "New prospects are assigned in turn to the people of a department.",
            "record.created",
            round_robin_leads,
        ),
        Template(
            "stuck_deal_alert",
            "Stuck deal alert",
            "A deal without activity for 60 days: owner and manager alerted.",
            "no_activity",
            stuck_deal_alert,
        ),
        Template(
            "lost_deal_feedback",
            "Lost-deal feedback task",
            "A deal is lost: a task to ask for feedback and a note with the reason.",
            "deal.lost",
            lost_deal_feedback,
        ),
        Template(
            "weekly_pipeline_digest",
            "Weekly pipeline digest",
            "Every Monday at 9:00 (Paris), an email to each manager with their pipeline figures.",
            "schedule",
            weekly_digest,
        ),
    )
}
