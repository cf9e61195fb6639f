"""Exports of the contacts and deals lists: exact content, filters, visibility, permission, audit."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import select

from carnet.contacts.schemas import ContactRead
from carnet.core.audit import AuditEntry
from carnet.deals import pipelines
from carnet.deals.models import Pipeline
from carnet.deals.schemas import DealRead


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline=""), delimiter=";"))


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _row(item: dict, columns: list[str]) -> list[str]:
    return [_text(item["custom_fields"].get(c[3:]) if c.startswith("cf.") else item.get(c)) for c in columns]


def _export_audits(db) -> list[tuple[int, str, dict]]:
    entries = db.scalars(select(AuditEntry).where(AuditEntry.action == "export").order_by(AuditEntry.seq))
    return [(e.actor_id, e.record_type, e.changes) for e in entries]


# -- contacts --------------------------------------------------------------------------------------


@pytest.fixture
def contacts(api, db, personas):
    from carnet.accounts import service as accounts
    from carnet.core import customfields

    admin = accounts.actor_for(accounts.get_user(db, personas["admin"].id))
    customfields.create_definition(
        db, admin, {"record_type": "contact", "key": "segment", "label": "Segment", "field_type": "text"}
    )
    alice, outsider = api("alice"), api("outsider")

    def make(client, path, **fields):
        r = client.post(path, json=fields)
        assert r.status_code == 201, r.text
        return r.json()

    sg = make(alice, "/api/v1/organisations", name="Société Générale")
    boul = make(alice, "/api/v1/organisations", name="Boulangerie Martin")
    return {
        "sg": sg,
        "boul": boul,
        "martin": make(
            alice,
            "/api/v1/contacts",
            first_name="Claire",
            last_name="Martin",
            city="Lyon",
            emails=["claire@sg.fr", "c.martin@perso.fr"],
            phones=["01 42 14 20 00"],
            tags=["banque", "vip"],
            organisations=[
                {"organisation_id": boul["id"], "role": "Cliente"},
                {"organisation_id": sg["id"], "role": "DAF", "is_primary": True},
            ],
            custom_fields={"segment": "Grands comptes"},
            do_not_call=True,
        ),
        "durand": make(alice, "/api/v1/contacts", first_name="Paul", last_name="Durand", city="Lyon"),
        "formula": make(alice, "/api/v1/contacts", last_name="=1+1", city="Lyon"),
        "petit": make(alice, "/api/v1/contacts", last_name="Petit", city="Paris", tags=["vip"]),
        "secret": make(outsider, "/api/v1/contacts", last_name="Secret", city="Lyon"),
    }


CONTACT_COLUMNS = [
    *(
        "organisation_ids" if c == "organisations" else c
        for c in ContactRead.model_fields
        if c != "custom_fields"
    )
]


def test_contacts_csv_content_is_exact(api, contacts):
    manager = api("manager")
    r = manager.get("/api/v1/contacts/export", params={"city": "Lyon", "sort": "last_name"})
    assert r.headers["content-disposition"].startswith("attachment; filename*=UTF-8''contacts-")
    rows = _csv(r)
    tags_at = CONTACT_COLUMNS.index("tags") + 1
    columns = [*CONTACT_COLUMNS[:tags_at], "cf.segment", *CONTACT_COLUMNS[tags_at:]]
    assert rows[0] == columns

    def expected(key: str) -> list[str]:
        item = manager.get(f"/api/v1/contacts/{contacts[key]['id']}").json()
        links = sorted(item.pop("organisations"), key=lambda link: not link["is_primary"])
        item["organisation_ids"] = [link["organisation_id"] for link in links]
        return _row(item, columns)

    formula = expected("formula")
    formula[columns.index("last_name")] = "'=1+1"  # never run as a formula
    assert rows[1:] == [formula, expected("durand"), expected("martin")]
    martin = dict(zip(columns, rows[3], strict=True))
    assert (
        martin["emails"],
        martin["phones"],
        martin["organisation_ids"],
        martin["tags"],
        martin["cf.segment"],
        martin["do_not_call"],
    ) == (
        "claire@sg.fr, c.martin@perso.fr",
        "+33142142000",
        f"{contacts['sg']['id']}, {contacts['boul']['id']}",  # the main organisation first
        "banque, vip",
        "Grands comptes",
        "true",
    )


def test_contacts_xlsx(api, contacts):
    from openpyxl import load_workbook

    r = api("manager").get(
        "/api/v1/contacts/export", params={"format": "xlsx", "tag": "vip", "sort": "last_name"}
    )
    assert r.status_code == 200
    sheet = load_workbook(io.BytesIO(r.content), read_only=True).worksheets[0]
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    header = rows[0]
    assert [row[header.index("last_name")] for row in rows[1:]] == ["Martin", "Petit"]
    martin = dict(zip(header, rows[1], strict=True))
    assert (martin["id"], martin["do_not_call"], martin["cf.segment"]) == (
        contacts["martin"]["id"],
        True,
        "Grands comptes",
    )


def test_contacts_filters_visibility_and_permission(api, db, contacts, personas):
    def names(client, **params):
        rows = _csv(client.get("/api/v1/contacts/export", params={"sort": "last_name", **params}))
        index = rows[0].index("last_name")
        return [row[index] for row in rows[1:]]

    manager, fiona, admin = api("manager"), api("fiona"), api("admin")
    assert names(manager, organisation_id=str(contacts["sg"]["id"])) == ["Martin"]
    assert names(manager, email="C.Martin@perso.fr") == ["Martin"]
    assert names(manager, **{"cf.segment": "Grands comptes"}) == ["Martin"]
    assert names(manager, city="Lyon", sort="-last_name") == ["Martin", "Durand", "'=1+1"]
    assert "Secret" not in names(manager)  # another department
    assert names(fiona) == ["Secret"]
    assert names(admin, city="Lyon") == ["'=1+1", "Durand", "Martin", "Secret"]
    assert manager.get("/api/v1/contacts/export", params={"nosuchfield": "1"}).status_code == 422
    for key in ("alice", "reader"):
        r = api(key).get("/api/v1/contacts/export")
        assert r.status_code == 403
        assert r.headers["content-type"].startswith("application/problem+json")
    assert [(actor, rt, changes["filters"]) for actor, rt, changes in _export_audits(db)] == [
        (
            personas["manager"].id,
            "contact",
            {"organisation_id": str(contacts["sg"]["id"]), "sort": "last_name"},
        ),
        (personas["manager"].id, "contact", {"email": "C.Martin@perso.fr", "sort": "last_name"}),
        (personas["manager"].id, "contact", {"cf.segment": "Grands comptes", "sort": "last_name"}),
        (personas["manager"].id, "contact", {"city": "Lyon", "sort": "-last_name"}),
        (personas["manager"].id, "contact", {"sort": "last_name"}),
        (personas["fiona"].id, "contact", {"sort": "last_name"}),
        (personas["admin"].id, "contact", {"city": "Lyon", "sort": "last_name"}),
    ]
    assert _export_audits(db)[0][2]["rows"] == 1


# -- deals -----------------------------------------------------------------------------------------


@pytest.fixture
def deals(api, db):
    pipelines.ensure_default_pipelines(db)
    db.commit()
    b2b = next(p for p in db.query(Pipeline).all() if p.name == "Ventes B2B")
    stage = {s.name: s.id for s in pipelines.stages(db, b2b)}
    alice, outsider = api("alice"), api("outsider")

    def make(client, **fields):
        r = client.post("/api/v1/deals", json={"pipeline_id": b2b.id, **fields})
        assert r.status_code == 201, r.text
        return r.json()

    org = alice.post("/api/v1/organisations", json={"name": "Boulangerie Martin"}).json()
    return {
        "pipeline": b2b,
        "stage": stage,
        "premium": make(
            alice,
            title="Offre Premium",
            amount="12500.50",
            stage_id=stage["Proposition"],
            organisation_id=org["id"],
            expected_close_date="2026-06-30",
            tags=["salon"],
        ),
        "cadre": make(alice, title="Contrat cadre", amount="800", stage_id=stage["Gagné"]),
        "finance": make(outsider, title="Audit financier", amount="5000"),
    }


def test_deals_csv_content_is_exact(api, deals):
    manager = api("manager")
    rows = _csv(manager.get("/api/v1/deals/export", params={"sort": "title"}))
    base = [c for c in DealRead.model_fields if c != "custom_fields"]
    columns = []
    for name in base:
        columns.append(name)
        if name in ("pipeline_id", "stage_id"):
            columns.append(name[:-3])
    assert rows[0] == columns

    def expected(key: str, stage: str) -> list[str]:
        item = manager.get(f"/api/v1/deals/{deals[key]['id']}").json()
        return _row({**item, "pipeline": "Ventes B2B", "stage": stage}, columns)

    assert rows[1:] == [expected("cadre", "Gagné"), expected("premium", "Proposition")]
    premium = dict(zip(columns, rows[2], strict=True))
    assert (premium["amount"], premium["stage"], premium["pipeline"], premium["status"], premium["tags"]) == (
        "12500.50",
        "Proposition",
        "Ventes B2B",
        "open",
        "salon",
    )


def test_deals_xlsx_filters_visibility_permission_and_audit(api, db, deals, personas):
    from openpyxl import load_workbook

    r = api("manager").get("/api/v1/deals/export", params={"format": "xlsx", "status": "won"})
    assert r.status_code == 200
    sheet = load_workbook(io.BytesIO(r.content), read_only=True).worksheets[0]
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    cadre = dict(zip(rows[0], rows[1], strict=True))
    assert len(rows) == 2
    assert (cadre["id"], cadre["title"], cadre["amount"], cadre["stage"], cadre["probability"]) == (
        deals["cadre"]["id"],
        "Contrat cadre",
        "800.00",  # money stays text, exact
        "Gagné",
        100,
    )

    def titles(client, **params):
        rows = _csv(client.get("/api/v1/deals/export", params={"sort": "title", **params}))
        return [row[rows[0].index("title")] for row in rows[1:]]

    assert titles(api("manager"), amount__gte="1000") == ["Offre Premium"]
    assert titles(api("fiona")) == ["Audit financier"]
    assert titles(api("admin")) == ["Audit financier", "Contrat cadre", "Offre Premium"]
    for key in ("alice", "reader"):
        assert api(key).get("/api/v1/deals/export").status_code == 403
    assert [(actor, rt, c["format"], c["rows"]) for actor, rt, c in _export_audits(db)] == [
        (personas["manager"].id, "deal", "xlsx", 1),
        (personas["manager"].id, "deal", "csv", 1),
        (personas["fiona"].id, "deal", "csv", 1),
        (personas["admin"].id, "deal", "csv", 3),
    ]
