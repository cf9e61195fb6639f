"""The issue's story, end to end: install "automatic follow-up", a deal sits in the proposal stage
without activity, the clock moves 31 days, the jobs run: a task for the owner, an email to the owner,
and the manager notified when the amount is over 50,000 €. Also the email and in-app notification
actions and the weekly digest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from carnet.core import clock
from carnet.core.mail import OutgoingEmail
from carnet.notifications.models import Notification
from carnet.tasks.models import Task
from carnet.workflows import service
from carnet.workflows.models import WorkflowRun


def test_automatic_follow_up(db, actor, make_deal, drain, personas):
    wf = service.install_template(db, actor("manager"), "automatic_follow_up")
    service.enable(db, actor("manager"), wf)
    big = make_deal("alice", stage="Proposition", title="Mairie de Nantes", amount="75000")
    small = make_deal("bob", stage="Proposition", title="Boulangerie", amount="8000")
    make_deal("alice", stage="Qualification", title="Pas en proposition", amount="90000")
    drain()
    clock.advance(timedelta(days=29))
    drain()
    assert db.query(Task).count() == 0

    clock.advance(timedelta(days=2))
    drain()
    tasks = {t.record_id: (t.title, t.owner_id, t.priority) for t in db.query(Task)}
    assert tasks == {
        big.id: ("Relancer Mairie de Nantes", personas["alice"].id, "high"),
        small.id: ("Relancer Boulangerie", personas["bob"].id, "high"),
    }
    emails = sorted(
        (e.record_id, e.to_address, e.subject) for e in db.query(OutgoingEmail).filter_by(record_type="deal")
    )
    # The manager's notification also goes by email: the default preference for workflow messages.
    assert emails == [
        (big.id, "alice@example.fr", "Relance : Mairie de Nantes"),
        (big.id, "manager@example.fr", "Affaire importante sans activité : Mairie de Nantes"),
        (small.id, "bob@example.fr", "Relance : Boulangerie"),
    ]
    body = (
        db.query(OutgoingEmail)
        .filter_by(record_type="deal", record_id=big.id, to_address="alice@example.fr")
        .one()
        .text_body
    )
    assert "Bonjour Alice," in body and "(75000.00 €)" in body
    notes = [(n.user_id, n.title, n.record_id) for n in db.query(Notification).filter_by(type="mention")]
    assert notes == [(personas["manager"].id, "Affaire importante sans activité : Mairie de Nantes", big.id)]
    assert sorted(r.status for r in db.query(WorkflowRun).filter_by(workflow_id=wf.id)) == [
        "completed",
        "completed",
    ]

    clock.advance(timedelta(days=1))
    drain()  # the same quiet period never fires twice
    assert db.query(Task).count() == 2


def test_send_email_to_contact_and_address_and_notify(db, make_workflow, make_deal, actor, drain, personas):
    from carnet.contacts import service as contacts

    contact = contacts.create_contact(
        db, actor("alice"), {"first_name": "Léa", "last_name": "Roux", "emails": ["lea@client.fr"]}
    )
    make_workflow(
        {
            "trigger": {"type": "record.created", "record_type": "deal", "params": {}},
            "start": "a",
            "steps": {
                "a": {
                    "type": "action",
                    "action": "send_email",
                    "params": {
                        "to": "contact",
                        "subject": "Bonjour {{ contact.first_name }}",
                        "body": "Merci",
                        "html": "<p>Merci</p>",
                    },
                    "next": "b",
                },
                "b": {
                    "type": "action",
                    "action": "send_email",
                    "params": {
                        "to": "compta+{{ deal.id }}@example.fr",
                        "subject": "Nouvelle affaire",
                        "body": "x",
                    },
                    "next": "c",
                },
                "c": {
                    "type": "action",
                    "action": "notify",
                    "params": {
                        "to": "owner",
                        "title": "Affaire {{ deal.title }}",
                        "body": "{{ deal.amount }}",
                    },
                    "next": None,
                },
            },
        }
    )
    deal = make_deal("bob", title="Salon", amount="10", contact_ids=[contact.id])
    drain()
    emails = [(e.to_address, e.subject) for e in db.query(OutgoingEmail).order_by(OutgoingEmail.id)]
    assert emails == [
        ("lea@client.fr", "Bonjour Léa"),
        (f"compta+{deal.id}@example.fr", "Nouvelle affaire"),
        ("bob@example.fr", "Affaire Salon"),  # the notification, by email too (bob's default preference)
    ]
    assert db.query(OutgoingEmail).filter_by(to_address="lea@client.fr").one().html_body == "<p>Merci</p>"
    note = db.query(Notification).one()
    assert (note.user_id, note.title, note.body, note.record_type, note.record_id) == (
        personas["bob"].id,
        "Affaire Salon",
        "10.00",
        "deal",
        deal.id,
    )


def test_weekly_digest_to_each_manager_on_monday_9_paris(db, actor, make_deal, drain, personas):
    clock.freeze(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    make_deal("alice", amount="1000")
    make_deal("bob", amount="500")
    wf = service.install_template(db, actor("admin"), "weekly_pipeline_digest")
    service.enable(db, actor("admin"), wf)
    clock.advance(timedelta(hours=20))  # Monday 08:00 UTC = 09:00 in Paris
    drain()
    emails = db.query(OutgoingEmail).all()
    assert [(e.to_address, e.subject) for e in emails] == [("manager@example.fr", "Pipeline de la semaine")]
    assert "Affaires en cours : 2 (1500.00 €)" in emails[0].text_body
    assert emails[0].text_body.startswith("Bonjour Manager,")
