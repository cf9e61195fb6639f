"""The /api/v1/webhook-endpoints and /api/v1/hooks routes: CRUD, the event catalogue, secrets,
test events and redelivery (webhook-id rules), delivery log, permissions and problem details."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from carnet.contacts import service as contacts
from carnet.core import clock, jobs
from carnet.core.audit import AuditEntry
from carnet.webhooks import catalogue
from carnet.webhooks.models import WebhookEndpoint

from .conftest import Receiver


def _create(api: Any, url: str, **extra: Any) -> dict[str, Any]:
    r = api("admin").post("/api/v1/webhook-endpoints", json={"url": url, **extra})
    assert r.status_code == 201, r.text
    return r.json()


def test_crud_shows_the_secret_once_and_is_audited(api: Any, db: Session, receiver: Receiver) -> None:
    created = _create(
        api,
        receiver.url(),
        description="ERP",
        event_types=["deal.won", "deal.lost"],
        headers={"X-Env": "prod"},
    )
    assert created["secret"].startswith("whsec_") and len(created["secret"]) >= 6 + 32
    assert (
        created["event_types"],
        created["active"],
        created["headers"],
        created["rate_limit_per_second"],
    ) == (["deal.won", "deal.lost"], True, {"X-Env": "prod"}, 10)
    endpoint_id = created["id"]
    got = api("admin").get(f"/api/v1/webhook-endpoints/{endpoint_id}").json()
    assert "secret" not in got
    assert [e["id"] for e in api("admin").get("/api/v1/webhook-endpoints").json()["items"]] == [endpoint_id]

    r = api("admin").patch(
        f"/api/v1/webhook-endpoints/{endpoint_id}", json={"event_types": ["*"], "active": False}
    )
    assert r.status_code == 200
    assert (r.json()["event_types"], r.json()["active"]) == (["*"], False)

    actions = db.scalars(
        select(AuditEntry.action)
        .where(AuditEntry.record_type == "webhook_endpoint", AuditEntry.record_id == endpoint_id)
        .order_by(AuditEntry.seq)
    ).all()
    assert actions == ["create", "update"]
    assert "secret" not in str(
        db.scalars(select(AuditEntry.changes).where(AuditEntry.record_id == endpoint_id)).all()
    )

    assert api("admin").delete(f"/api/v1/webhook-endpoints/{endpoint_id}").status_code == 204
    assert api("admin").get(f"/api/v1/webhook-endpoints/{endpoint_id}").status_code == 404


def test_only_admins_manage_endpoints_and_nothing_changes_when_denied(
    api: Any, db: Session, receiver: Receiver
) -> None:
    created = _create(api, receiver.url())
    for who in ("manager", "alice", "reader"):
        assert api(who).get("/api/v1/webhook-endpoints").status_code == 403
        assert api(who).post("/api/v1/webhook-endpoints", json={"url": receiver.url()}).status_code == 403
        assert (
            api(who).patch(f"/api/v1/webhook-endpoints/{created['id']}", json={"active": False}).status_code
            == 403
        )
        assert api(who).post(f"/api/v1/webhook-endpoints/{created['id']}/rotate-secret").status_code == 403
        assert api(who).delete(f"/api/v1/webhook-endpoints/{created['id']}").status_code == 403
    db.expire_all()
    [endpoint] = db.scalars(select(WebhookEndpoint)).all()
    assert (endpoint.active, endpoint.previous_secret) == (True, None)


def test_bad_input_is_answered_with_problem_details(api: Any, receiver: Receiver) -> None:
    cases = [
        ({"url": "not a url"}, "url", "invalid_url"),
        ({"url": receiver.url(), "event_types": ["contact.exploded"]}, "event_types", "unknown_event_type"),
        ({"url": receiver.url(), "event_types": []}, "event_types", "required"),
        ({"url": receiver.url(), "headers": {"webhook-signature": "x"}}, "headers", "reserved_header"),
        ({"url": receiver.url(), "headers": {"Bad Name": "x"}}, "headers", "invalid_header"),
        ({"url": receiver.url(), "headers": {"X-A": "a\r\nInjected: 1"}}, "headers", "invalid_header"),
        ({"url": receiver.url(), "rate_limit_per_second": 0}, "rate_limit_per_second", "out_of_range"),
    ]
    for body, field, code in cases:
        r = api("admin").post("/api/v1/webhook-endpoints", json=body)
        assert r.status_code == 422, body
        assert r.headers["content-type"] == "application/problem+json"
        assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [(field, code)], body
    r = api("admin").post("/api/v1/webhook-endpoints", json={"url": receiver.url(), "secret": "mine"})
    assert r.status_code == 422  # unknown fields are refused
    assert api("admin").get("/api/v1/webhook-endpoints").json()["items"] == []


def test_the_event_catalogue_lists_every_type_with_an_example(api: Any) -> None:
    r = api("reader").get("/api/v1/webhook-endpoints/event-types")
    assert r.status_code == 200
    types = {e["type"]: e for e in r.json()}
    for name in (
        "organisation.created",
        "organisation.updated",
        "organisation.deleted",
        "contact.created",
        "contact.updated",
        "contact.deleted",
        "deal.created",
        "deal.updated",
        "deal.stage_changed",
        "deal.won",
        "deal.lost",
        "deal.deleted",
        "activity.created",
        "task.created",
        "task.completed",
    ):
        assert name in types
        example = types[name]["example"]
        assert example["type"] == name and set(example) >= {"type", "timestamp", "data"}
    assert types["deal.won"]["example"]["data"]["status"] == "won"
    assert "changes" in types["deal.stage_changed"]["example"]


def test_catalogue_examples_have_exactly_the_fields_of_each_read_schema() -> None:
    from carnet.activities.schemas import ActivityRead
    from carnet.catalogue.schemas import ProductRead
    from carnet.company.schemas import CompanyRead
    from carnet.contacts.schemas import ContactRead
    from carnet.contracts.schemas import ContractRead
    from carnet.deals.schemas import DealRead, PipelineRead
    from carnet.invoices.schemas import InvoiceRead
    from carnet.organisations.schemas import OrganisationRead
    from carnet.payments.schemas import PaymentRead
    from carnet.projects.schemas import ProjectRead
    from carnet.quotes.schemas import QuoteRead
    from carnet.tasks.schemas import TaskRead

    schemas = {
        "organisation": OrganisationRead,
        "contact": ContactRead,
        "deal": DealRead,
        "activity": ActivityRead,
        "task": TaskRead,
        "pipeline": PipelineRead,
        "quote": QuoteRead,
        "invoice": InvoiceRead,
        "contract": ContractRead,
        "payment": PaymentRead,
        "product": ProductRead,
        "company": CompanyRead,
        "project": ProjectRead,
    }
    assert set(schemas) == set(catalogue.EXAMPLES)
    for record_type, schema in schemas.items():
        schema.model_validate(catalogue.EXAMPLES[record_type])
        assert set(catalogue.EXAMPLES[record_type]) == set(schema.model_fields), record_type
    for name in catalogue.names():  # every event's example is a valid record of its type
        spec = catalogue.BY_NAME[name]
        schemas[spec.record_type].model_validate(catalogue.example_payload(name)["data"])


def test_every_event_the_crm_emits_is_in_the_catalogue() -> None:
    import re
    from pathlib import Path

    import carnet

    root = Path(carnet.__file__).parent
    emitted: set[str] = set()
    for path in root.glob("*/*.py"):
        if path.parent.name in ("webhooks", "core"):
            continue
        source = path.read_text()
        emitted |= set(re.findall(r'events\.emit\(\s*db,\s*actor,\s*"([a-z_]+\.[a-z_]+)"', source))
        for record_type in re.findall(r'RECORD_TYPE = "([a-z_]+)"', source):
            if "lifecycle.created" in source:
                emitted |= {f"{record_type}.created", f"{record_type}.updated", f"{record_type}.deleted"}
    emitted |= {"deal.won", "deal.lost"}  # f"deal.{stage.kind}"
    assert {"contact.created", "task.completed", "deal.stage_changed", "pipeline.updated"} <= emitted
    missing = {name for name in emitted - set(catalogue.names())}
    assert missing == set()


def test_rotation_signs_with_both_secrets_during_the_overlap(
    api: Any, db: Session, receiver: Receiver, actor_of: Any
) -> None:
    clock.reset()
    created = _create(api, receiver.url(), event_types=["contact.created"])
    old_secret = created["secret"]
    r = api("admin").post(f"/api/v1/webhook-endpoints/{created['id']}/rotate-secret")
    assert r.status_code == 200
    new_secret = r.json()["secret"]
    assert new_secret != old_secret

    contacts.create_contact(db, actor_of("alice"), {"first_name": "Claire", "last_name": "Martin"})
    jobs.drain()
    got = receiver.requests[-1]
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    Webhook(old_secret).verify(got.body, got.headers)  # receivers not switched yet still verify
    Webhook(new_secret).verify(got.body, got.headers)

    clock.advance(timedelta(hours=24, seconds=1))
    r = api("admin").post(
        f"/api/v1/webhook-endpoints/{created['id']}/test", json={"event_type": "contact.created"}
    )
    assert r.status_code == 202
    jobs.drain()
    got = receiver.requests[-1]
    assert len(got.headers["webhook-signature"].split(" ")) == 1
    assert got.headers["webhook-signature"].startswith("v1,")


def test_test_events_get_a_new_id_and_redelivery_keeps_the_id(
    api: Any, db: Session, receiver: Receiver, actor_of: Any
) -> None:
    created = _create(api, receiver.url(), event_types=["deal.won"])
    base = f"/api/v1/webhook-endpoints/{created['id']}"
    first = api("admin").post(f"{base}/test").json()
    second = api("admin").post(f"{base}/test").json()
    assert first["event_type"] == "deal.won" and first["is_test"] is True
    assert first["event_id"] != second["event_id"]
    jobs.drain()
    assert [r.headers["webhook-id"] for r in receiver.requests] == [first["event_id"], second["event_id"]]
    assert receiver.requests[0].json["data"]["status"] == "won"

    r = api("admin").post(f"{base}/deliveries/{first['id']}/redeliver")
    assert r.status_code == 202
    assert r.json()["status"] == "pending"
    jobs.drain()
    assert receiver.requests[-1].headers["webhook-id"] == first["event_id"]
    assert receiver.requests[-1].body == receiver.requests[0].body

    log = api("admin").get(f"{base}/deliveries").json()["items"]
    assert [d["id"] for d in log] == [second["id"], first["id"]]
    assert [a["number"] for a in log[1]["attempt_log"]] == [1, 2]
    assert all(a["status_code"] == 200 for a in log[1]["attempt_log"])

    r = api("admin").post(f"{base}/test", json={"event_type": "nope"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "event_type"


def test_the_delivery_log_filters_by_status_and_pages(api: Any, receiver: Receiver) -> None:
    receiver.answer("/hook", (400, {}, b"no"))
    created = _create(api, receiver.url(), event_types=["contact.created"])
    base = f"/api/v1/webhook-endpoints/{created['id']}"
    for _ in range(3):
        api("admin").post(f"{base}/test")
    jobs.drain()
    failed = api("admin").get(f"{base}/deliveries?status=failed").json()["items"]
    assert [(d["status"], d["last_status_code"]) for d in failed] == [("failed", 400)]
    assert len(api("admin").get(f"{base}/deliveries?status=succeeded").json()["items"]) == 2
    page = api("admin").get(f"{base}/deliveries?limit=2").json()
    rest = api("admin").get(f"{base}/deliveries?limit=2&cursor={page['next_cursor']}").json()
    assert len(page["items"]) == 2 and len(rest["items"]) == 1 and rest["next_cursor"] is None
    r = api("admin").get(f"{base}/deliveries?status=lost")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "status"
    assert api("admin").get(f"{base}/deliveries?cursor=%%%").status_code == 422
    assert api("admin").get(f"{base}/deliveries/999999").status_code == 404


def test_the_documented_verification_code_verifies_a_delivery() -> None:
    """The standard-library Python snippet of documentation/integrations.md, run as written."""
    import re
    import time
    from pathlib import Path

    from carnet.webhooks import signing

    doc = (Path(__file__).resolve().parents[2] / "documentation" / "integrations.md").read_text()
    snippet = re.search(r"### Python, standard library only\n\n```python\n(.*?)```", doc, re.S).group(1)
    secret = signing.new_secret()
    namespace: dict[str, Any] = {}
    exec(snippet.replace("whsec_...", secret), namespace)
    body = b'{"type":"contact.created","data":{"id":1}}'
    timestamp = str(int(time.time()))
    headers = {
        "Webhook-Id": "msg_1",
        "Webhook-Timestamp": timestamp,
        "Webhook-Signature": signing.signature_header(
            [signing.new_secret(), secret], "msg_1", int(timestamp), body
        ),
    }
    assert namespace["verify"](body, headers) == {"type": "contact.created", "data": {"id": 1}}
    headers["Webhook-Signature"] = signing.sign(signing.new_secret(), "msg_1", int(timestamp), body)
    try:
        namespace["verify"](body, headers)
    except PermissionError as exc:
        assert str(exc) == "no valid signature"
    else:
        raise AssertionError("a wrong signature was accepted")
