"""Exports of the organisations list: exact CSV and XLSX content, filters, visibility, keyset
batches, permission and audit."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from carnet.core import exporting
from carnet.core.audit import AuditEntry
from carnet.organisations.schemas import OrganisationRead

BASE_COLUMNS = [c for c in OrganisationRead.model_fields if c != "custom_fields"]


@pytest.fixture
def segment(db, personas):
    from carnet.accounts import service as accounts
    from carnet.core import customfields

    admin = accounts.actor_for(accounts.get_user(db, personas["admin"].id))
    customfields.create_definition(
        db, admin, {"record_type": "organisation", "key": "segment", "label": "Segment", "field_type": "text"}
    )


@pytest.fixture
def orgs(api, segment):
    alice, outsider = api("alice"), api("outsider")

    def make(client, **fields):
        r = client.post("/api/v1/organisations", json=fields)
        assert r.status_code == 201, r.text
        return r.json()

    return {
        "sg": make(
            alice,
            name="Société Générale",
            siren="552120222",
            city="Lyon",
            phones=["01 42 14 20 00", "06 12 34 56 78"],
            tags=["banque", "grand compte"],
            custom_fields={"segment": "Banque; finance"},
        ),
        "boul": make(alice, name="Boulangerie Martin", city="Lyon", headcount=12),
        "paris": make(alice, name="Atelier Parisien", city="Paris"),
        "formula": make(alice, name='=HYPERLINK("http://x")', city="Lyon", description="+cmd|' /C calc'!A0"),
        "finance": make(outsider, name="Cabinet Finance", city="Lyon"),
    }


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    body = response.content
    assert body.startswith(b"\xef\xbb\xbf")  # BOM for French Excel
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline=""), delimiter=";"))


def _expected_row(org: dict, columns: list[str]) -> list[str]:
    out = []
    for c in columns:
        value = org["custom_fields"].get(c[3:]) if c.startswith("cf.") else org.get(c)
        if value is None:
            out.append("")
        elif isinstance(value, list):
            out.append(", ".join(value))
        elif isinstance(value, dict):
            import json

            out.append(json.dumps(value, ensure_ascii=False, sort_keys=True))
        else:
            out.append(str(value))
    return out


def test_csv_content_is_exact(api, orgs):
    manager = api("manager")
    r = manager.get("/api/v1/organisations/export", params={"format": "csv", "city": "Lyon", "sort": "name"})
    assert r.headers["content-disposition"].startswith("attachment; filename*=UTF-8''organisations-")
    rows = _csv(r)
    columns = [
        *BASE_COLUMNS[: BASE_COLUMNS.index("tags") + 1],
        "cf.segment",
        *BASE_COLUMNS[BASE_COLUMNS.index("tags") + 1 :],
    ]
    assert rows[0] == columns
    fresh = {
        k: manager.get(f"/api/v1/organisations/{o['id']}").json() for k, o in orgs.items() if k != "finance"
    }
    formula = _expected_row(fresh["formula"], columns)
    formula[columns.index("name")] = '\'=HYPERLINK("http://x")'  # never run as a formula
    formula[columns.index("description")] = "'+cmd|' /C calc'!A0"
    assert rows[1:] == [
        formula,  # "=" sorts before letters
        _expected_row(fresh["boul"], columns),
        _expected_row(fresh["sg"], columns),
    ]
    sg = dict(zip(columns, rows[3], strict=True))
    assert (sg["phones"], sg["tags"], sg["cf.segment"], sg["siren"]) == (
        "+33142142000, +33612345678",
        "banque, grand compte",
        "Banque; finance",
        "552120222",
    )
    assert r.content.count(b"\r\n") == 4


def test_xlsx_content_is_exact(api, orgs):
    from openpyxl import load_workbook

    r = api("manager").get(
        "/api/v1/organisations/export", params={"format": "xlsx", "city": "Lyon", "sort": "name"}
    )
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(r.content), read_only=True).worksheets[0]
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    header = rows[0]
    assert "cf.segment" in header and header[0] == "id"
    names = [row[header.index("name")] for row in rows[1:]]
    assert names == [
        '=HYPERLINK("http://x")',
        "Boulangerie Martin",
        "Société Générale",
    ]  # text, not a formula
    boul = dict(zip(header, rows[2], strict=True))
    assert (
        boul["id"],
        boul["headcount"],
        boul["size_category"],
        boul["phones"],
        boul["tags"],
        boul["cf.segment"],
    ) == (
        orgs["boul"]["id"],
        12,
        "PME",
        None,
        None,
        None,
    )
    sg = dict(zip(header, rows[3], strict=True))
    assert (sg["tags"], sg["cf.segment"], sg["country"]) == ("banque, grand compte", "Banque; finance", "FR")


def test_filters_and_visibility(api, orgs):
    def names(client, **params):
        rows = _csv(client.get("/api/v1/organisations/export", params={"sort": "name", **params}))
        index = rows[0].index("name")
        return [row[index] for row in rows[1:]]

    manager, fiona, admin = api("manager"), api("fiona"), api("admin")
    assert names(manager, city="Paris") == ["Atelier Parisien"]
    assert names(manager, tag="banque") == ["Société Générale"]
    assert names(manager, headcount__gte="10") == ["Boulangerie Martin"]
    assert names(manager, **{"cf.segment": "Banque; finance"}) == ["Société Générale"]
    assert names(manager, city="Lyon", sort="-name") == [
        "Société Générale",
        "Boulangerie Martin",
        '\'=HYPERLINK("http://x")',
    ]
    assert "Cabinet Finance" not in names(manager)  # another department
    assert names(fiona) == ["Cabinet Finance"]  # finance sees only its department
    assert len(names(admin, city="Lyon")) == 4


def test_keyset_batches_cover_every_row_once(api, orgs, monkeypatch):
    monkeypatch.setattr(exporting, "BATCH", 2)
    rows = _csv(api("admin").get("/api/v1/organisations/export", params={"sort": "name"}))
    ids = [int(r[0]) for r in rows[1:]]
    assert sorted(ids) == sorted(o["id"] for o in orgs.values())
    assert len(ids) == len(set(ids)) == 5


def test_export_needs_the_export_permission(api, db, orgs):
    for key in ("alice", "reader"):  # sales and read-only roles may not export
        r = api(key).get("/api/v1/organisations/export")
        assert r.status_code == 403
        assert r.headers["content-type"].startswith("application/problem+json")
    assert db.scalars(select(AuditEntry).where(AuditEntry.action == "export")).all() == []


def test_bad_filters_are_422_before_anything_is_sent(api, db, orgs):
    manager = api("manager")
    assert manager.get("/api/v1/organisations/export", params={"nosuchfield": "1"}).status_code == 422
    assert manager.get("/api/v1/organisations/export", params={"format": "pdf"}).status_code == 422
    assert manager.get("/api/v1/organisations/export", params={"sort": "description"}).status_code == 422
    assert db.scalars(select(AuditEntry).where(AuditEntry.action == "export")).all() == []


def test_exports_are_audited(api, db, orgs, personas):
    manager = api("manager")
    _csv(manager.get("/api/v1/organisations/export", params={"city": "Lyon", "sort": "name"}))
    r = manager.get("/api/v1/organisations/export", params={"format": "xlsx", "tag": "banque"})
    assert r.status_code == 200, r.text
    entries = db.scalars(
        select(AuditEntry).where(AuditEntry.action == "export").order_by(AuditEntry.seq)
    ).all()
    assert [(e.actor_id, e.record_type, e.record_id, e.changes) for e in entries] == [
        (
            personas["manager"].id,
            "organisation",
            None,
            {"format": "csv", "filters": {"city": "Lyon", "sort": "name"}, "rows": 3, "complete": True},
        ),
        (
            personas["manager"].id,
            "organisation",
            None,
            {"format": "xlsx", "filters": {"tag": "banque"}, "rows": 1, "complete": True},
        ),
    ]


def test_export_buttons_on_the_list_keep_the_filters(web, orgs):
    page = web("manager").get("/organisations", params={"city": "Lyon", "type": "prospect"}).text
    assert 'href="/api/v1/organisations/export?format=csv&city=Lyon&type=prospect"' in page
    assert 'href="/api/v1/organisations/export?format=xlsx&city=Lyon&type=prospect"' in page
    assert 'data-testid="export-csv"' not in web("alice").get("/organisations").text


def test_the_button_link_works_with_the_session_cookie(web, orgs):
    r = web("manager").get("/api/v1/organisations/export?format=csv&city=Paris")
    assert [row[1] for row in _csv(r)] == ["name", "Atelier Parisien"]
