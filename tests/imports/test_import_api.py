"""Imports over the API: file flavours, mapping suggestions, bad rows, duplicates, undo, progress,
limits, permissions and audit."""

from __future__ import annotations

import io

import pytest
from import_helpers import csv_bytes, run_file, upload, xlsx_bytes
from sqlalchemy import func, select

from carnet.core import i18n
from carnet.core.audit import AuditEntry
from carnet.imports import service
from carnet.imports.models import ImportJob, ImportRow
from carnet.organisations.models import Organisation

FRENCH = [
    ["Nom de l'entreprise", "SIREN", "Téléphone", "Ville", "Code postal", "Étiquettes", "Colonne inconnue"],
    ["Société Générale", "552 120 222", "01 42 14 20 00", "Paris", "75009", "banque, grand compte", "x"],
    ["Mauvais SIREN", "732829321", "", "Lyon", "69001", "", ""],
    ["Boulangerie Martin", "", "06 12 34 56 78", "Lyon", "69002", "", ""],
    ["", "404833048", "", "Clichy", "92110", "", ""],
    ["L'Oréal", "404833048", "", "Clichy", "92110", "", ""],
]


def _orgs(api_client, **params):
    return api_client.get("/api/v1/organisations", params={"limit": 200, "sort": "name", **params}).json()[
        "items"
    ]


def _fr(message: str, **params) -> str:
    return i18n.gettext(message, "fr", **params)


def test_french_csv_happy_path_with_bad_rows(api, db):
    alice = api("alice")
    r = upload(alice, csv_bytes(FRENCH))
    assert r.status_code == 201, r.text
    job = r.json()
    assert (job["status"], job["file_format"], job["encoding"], job["delimiter"], job["total"]) == (
        "uploaded",
        "csv",
        "utf-8-sig",
        ";",
        5,
    )
    assert job["mapping"] == {
        "Nom de l'entreprise": "name",
        "SIREN": "siren",
        "Téléphone": "phones",
        "Ville": "city",
        "Code postal": "postal_code",
        "Étiquettes": "tags",
        "Colonne inconnue": None,
    }
    assert {"key": "name", "label": "Name", "required": True, "many": False} in job["fields"]

    r = alice.post(f"/api/v1/imports/{job['id']}/mapping", json={"mapping": job["mapping"]})
    assert r.status_code == 200 and r.json()["status"] == "mapped"
    r = alice.post(f"/api/v1/imports/{job['id']}/run")
    assert r.status_code == 202
    done = alice.get(f"/api/v1/imports/{job['id']}").json()
    assert {
        k: done[k]
        for k in ("status", "total", "processed", "created", "updated", "skipped", "failed", "progress")
    } == {
        "status": "done",
        "total": 5,
        "processed": 5,
        "created": 3,
        "updated": 0,
        "skipped": 0,
        "failed": 2,
        "progress": 100,
    }

    orgs = {o["name"]: o for o in _orgs(alice)}
    assert sorted(orgs) == ["Boulangerie Martin", "L'Oréal", "Société Générale"]
    sg = orgs["Société Générale"]
    assert (sg["siren"], sg["phones"], sg["city"], sg["postal_code"], sg["tags"]) == (
        "552120222",
        ["+33142142000"],
        "Paris",
        "75009",
        ["banque", "grand compte"],
    )
    assert orgs["Boulangerie Martin"]["phones"] == ["+33612345678"]

    report = alice.get(f"/api/v1/imports/{job['id']}/report", params={"status": "failed"}).json()
    assert report == {
        "items": [
            {
                "line": 3,
                "status": "failed",
                "record_id": None,
                "note": None,
                "errors": [
                    {
                        "field": "siren",
                        "column": "SIREN",
                        "code": "invalid_siren",
                        "message": _fr("This SIREN is not valid (9 digits with a valid check digit)"),
                    }
                ],
                "undo_status": None,
                "undo_note": None,
            },
            {
                "line": 5,
                "status": "failed",
                "record_id": None,
                "note": None,
                "errors": [
                    {
                        "field": "name",
                        "column": "Nom de l'entreprise",
                        "code": "required",
                        "message": _fr("This field is required"),
                    }
                ],
                "undo_status": None,
                "undo_note": None,
            },
        ],
        "next_cursor": None,
    }
    everything = alice.get(f"/api/v1/imports/{job['id']}/report").json()["items"]
    assert [(r["line"], r["status"]) for r in everything] == [
        (2, "created"),
        (3, "failed"),
        (4, "created"),
        (5, "failed"),
        (6, "created"),
    ]
    assert everything[0]["record_id"] == sg["id"]

    csv_report = alice.get(f"/api/v1/imports/{job['id']}/report", params={"format": "csv"})
    assert csv_report.headers["content-type"].startswith("text/csv")
    assert csv_report.content.decode("utf-8") == (
        "\ufeff"
        f"{_fr('Line')};{_fr('Errors')};Nom de l'entreprise;SIREN;Téléphone;Ville;Code postal;Étiquettes;Colonne inconnue\r\n"
        f"3;SIREN: {_fr('This SIREN is not valid (9 digits with a valid check digit)')};Mauvais SIREN;732829321;;Lyon;69001;;\r\n"
        f"5;Nom de l'entreprise: {_fr('This field is required')};;404833048;;Clichy;92110;;\r\n"
    )

    # The import is audited with its counts; each record has its own "create" entry.
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "import")).one()
    assert (entry.actor_id, entry.record_type, entry.record_id) == (done["user_id"], "organisation", None)
    assert {k: entry.changes[k] for k in ("job_id", "total", "created", "updated", "skipped", "failed")} == {
        "job_id": job["id"],
        "total": 5,
        "created": 3,
        "updated": 0,
        "skipped": 0,
        "failed": 2,
    }
    creates = db.scalar(
        select(func.count()).where(AuditEntry.action == "create", AuditEntry.record_type == "organisation")
    )
    assert creates == 3


def test_cp1252_comma_file_with_hubspot_headers(api):
    alice = api("alice")
    content = csv_bytes(
        [
            ["Company name", "Phone Number", "City", "Country/Region", "Postal Code", "Company Domain Name"],
            ["Société Générale", "01 42 14 20 00", "Paris", "France", "75009", "societegenerale.fr"],
            ["Crème & Café", "", "Genève", "Suisse", "1204", ""],
        ],
        delimiter=",",
        encoding="cp1252",
    )
    r = upload(alice, content, "hubspot.csv")
    job = r.json()
    assert (job["encoding"], job["delimiter"]) == ("cp1252", ",")
    assert job["mapping"] == {
        "Company name": "name",
        "Phone Number": "phones",
        "City": "city",
        "Country/Region": "country",
        "Postal Code": "postal_code",
        "Company Domain Name": "website",
    }
    done = run_file(alice, content, "hubspot.csv")
    assert (done["created"], done["failed"]) == (2, 0)
    orgs = {o["name"]: o for o in _orgs(alice)}
    assert (orgs["Société Générale"]["country"], orgs["Société Générale"]["website"]) == (
        "FR",
        "https://societegenerale.fr",
    )
    assert (
        orgs["Crème & Café"]["city"],
        orgs["Crème & Café"]["country"],
        orgs["Crème & Café"]["postal_code"],
    ) == (
        "Genève",
        "CH",
        "1204",
    )


def test_xlsx_with_pipedrive_headers_and_numeric_cells(api):
    alice = api("alice")
    content = xlsx_bytes(
        [
            [
                "Organization - Name",
                "Organization - ZIP/Postal code",
                "SIREN",
                "Organization - Labels",
                "Organization - Number of employees",
            ],
            ["Boulangerie Martin", 1000, 404833048, "boulangerie, client", 12],
            [None, None, None, None, None],
            ["Société Générale", 75009, 552120222, None, 1200.0],
        ]
    )
    r = upload(alice, content, "pipedrive.xlsx")
    job = r.json()
    assert (job["file_format"], job["total"]) == ("xlsx", 2)
    assert job["mapping"] == {
        "Organization - Name": "name",
        "Organization - ZIP/Postal code": "postal_code",
        "SIREN": "siren",
        "Organization - Labels": "tags",
        "Organization - Number of employees": "headcount",
    }
    done = run_file(alice, content, "pipedrive.xlsx")
    assert (done["created"], done["failed"]) == (2, 0)
    orgs = {o["name"]: o for o in _orgs(alice)}
    boul = orgs["Boulangerie Martin"]
    assert (boul["postal_code"], boul["siren"], boul["tags"], boul["headcount"], boul["size_category"]) == (
        "01000",
        "404833048",
        ["boulangerie", "client"],
        12,
        "PME",
    )
    assert orgs["Société Générale"]["headcount"] == 1200
    lines = [r["line"] for r in alice.get(f"/api/v1/imports/{done['id']}/report").json()["items"]]
    assert lines == [2, 4]  # the blank row 3 is skipped but still counts as a line


@pytest.fixture
def existing(api):
    alice = api("alice")
    r = alice.post(
        "/api/v1/organisations",
        json={
            "name": "Société Générale",
            "siren": "552120222",
            "city": "Paris",
            "phones": ["01 42 14 20 00"],
            "tags": ["banque"],
        },
    )
    assert r.status_code == 201
    return r.json()


DUPLICATES = [
    ["Nom", "SIREN", "Ville", "Téléphone", "Étiquettes"],
    ["Société Générale SA", "552120222", "La Défense", "06 12 34 56 78", "grand compte"],
    ["Boulangerie Martin", "404833048", "Lyon", "", ""],
]


def test_duplicates_skip(api, existing):
    alice = api("alice")
    done = run_file(alice, csv_bytes(DUPLICATES), duplicate_mode="skip")
    assert (done["created"], done["updated"], done["skipped"]) == (1, 0, 1)
    assert alice.get(f"/api/v1/organisations/{existing['id']}").json() == existing
    rows = alice.get(f"/api/v1/imports/{done['id']}/report").json()["items"]
    assert (rows[0]["status"], rows[0]["record_id"], rows[0]["note"]) == (
        "skipped",
        existing["id"],
        "Already exists",
    )


def test_duplicates_update_adds_to_lists(api, existing):
    alice = api("alice")
    done = run_file(alice, csv_bytes(DUPLICATES), duplicate_mode="update")
    assert (done["created"], done["updated"], done["skipped"]) == (1, 1, 0)
    now = alice.get(f"/api/v1/organisations/{existing['id']}").json()
    assert (now["name"], now["city"], now["phones"], now["tags"], now["version"]) == (
        "Société Générale SA",
        "La Défense",
        ["+33142142000", "+33612345678"],
        ["banque", "grand compte"],
        2,
    )
    # Same file again: nothing left to change.
    again = run_file(alice, csv_bytes(DUPLICATES), duplicate_mode="update")
    assert (again["created"], again["updated"], again["skipped"]) == (0, 0, 2)


def test_duplicates_create(api, existing):
    alice = api("alice")
    done = run_file(alice, csv_bytes(DUPLICATES), duplicate_mode="create")
    assert (done["created"], done["updated"], done["skipped"]) == (2, 0, 0)
    assert len(_orgs(alice, siren="552120222")) == 2


def test_duplicates_within_the_file(api):
    rows = [["Nom", "SIREN"], ["Première", "552120222"], ["Seconde", "552 120 222"]]
    done = run_file(api("alice"), csv_bytes(rows), duplicate_mode="skip")
    assert (done["created"], done["skipped"]) == (1, 1)


def test_siret_matches_before_siren(api):
    alice = api("alice")
    head = alice.post("/api/v1/organisations", json={"name": "Siège", "siren": "552120222"}).json()
    branch = alice.post("/api/v1/organisations", json={"name": "Agence", "siret": "55212022200013"}).json()
    rows = [
        ["Nom", "SIRET", "SIREN", "Ville"],
        ["Agence Paris", "55212022200013", "", "Paris"],
        ["Siège Paris", "", "552120222", "Paris"],
    ]
    done = run_file(alice, csv_bytes(rows), duplicate_mode="update")
    assert done["updated"] == 2
    assert alice.get(f"/api/v1/organisations/{branch['id']}").json()["name"] == "Agence Paris"
    assert alice.get(f"/api/v1/organisations/{head['id']}").json()["name"] == "Siège Paris"


def test_undo_restores_exactly(api, db, existing, actor_of):
    from carnet.core import customfields

    customfields.create_definition(
        db,
        actor_of("admin"),
        {"record_type": "organisation", "key": "segment", "label": "Segment", "field_type": "text"},
    )
    alice = api("alice")
    before = alice.get(f"/api/v1/organisations/{existing['id']}").json()
    rows = [row + [value] for row, value in zip(DUPLICATES, ["Segment", "Banque", "Artisan"], strict=True)]
    done = run_file(alice, csv_bytes(rows), duplicate_mode="update")
    assert (done["created"], done["updated"]) == (1, 1)
    changed = alice.get(f"/api/v1/organisations/{existing['id']}").json()
    assert changed["custom_fields"] == {"segment": "Banque"}
    created_id = next(o["id"] for o in _orgs(alice) if o["name"] == "Boulangerie Martin")

    r = alice.post(f"/api/v1/imports/{done['id']}/undo")
    assert r.status_code == 202
    job = alice.get(f"/api/v1/imports/{done['id']}").json()
    assert (job["status"], job["undo_summary"]) == ("undone", {"deleted": 1, "restored": 1, "kept": 0})
    after = alice.get(f"/api/v1/organisations/{existing['id']}").json()
    volatile = ("version", "updated_at", "updated_by_id")
    assert {k: v for k, v in after.items() if k not in volatile} == {
        k: v for k, v in before.items() if k not in volatile
    }
    assert alice.get(f"/api/v1/organisations/{created_id}").status_code == 404
    assert alice.post(f"/api/v1/imports/{done['id']}/undo").status_code == 409  # only once
    actions = [
        a.action
        for a in db.scalars(
            select(AuditEntry)
            .where(AuditEntry.action.in_(("import_undo", "delete")))
            .order_by(AuditEntry.seq)
        )
    ]
    assert actions == ["delete", "import_undo"]
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "import_undo")).one()
    assert entry.changes == {
        "job_id": done["id"],
        "filename": "societes.csv",
        "deleted": 1,
        "restored": 1,
        "kept": 0,
    }


def test_undo_keeps_records_changed_since(api):
    alice = api("alice")
    done = run_file(alice, csv_bytes([["Nom", "Ville"], ["Gardée", "Lyon"], ["Supprimée", "Lyon"]]))
    kept = next(o for o in _orgs(alice) if o["name"] == "Gardée")
    alice.patch(f"/api/v1/organisations/{kept['id']}", json={"city": "Paris"})
    alice.post(f"/api/v1/imports/{done['id']}/undo")
    job = alice.get(f"/api/v1/imports/{done['id']}").json()
    assert job["undo_summary"] == {"deleted": 1, "restored": 0, "kept": 1}
    assert [o["name"] for o in _orgs(alice)] == ["Gardée"]
    rows = alice.get(f"/api/v1/imports/{done['id']}/report").json()["items"]
    assert [(r["line"], r["undo_status"], r["undo_note"]) for r in rows] == [
        (2, "kept", "Changed since the import"),
        (3, "undone", None),
    ]


def test_progress_moves_batch_by_batch(api, database, monkeypatch):
    monkeypatch.setattr(service, "CHUNK_SIZE", 2)
    seen: list[tuple[int, int, int]] = []
    original = service._run_chunk

    def spy(db_, actor, job_id, ctx, batch):
        original(db_, actor, job_id, ctx, batch)
        with database.session() as other:  # what a poller sees once the batch committed
            job = other.get(ImportJob, job_id)
            seen.append((job.processed, job.created, job.failed))

    monkeypatch.setattr(service, "_run_chunk", spy)
    rows = [["Nom", "SIREN"]] + [[f"Org {i}", "732829321" if i == 2 else ""] for i in range(5)]
    done = run_file(api("alice"), csv_bytes(rows))
    assert seen == [(2, 2, 0), (4, 3, 1), (5, 4, 1)]
    assert (done["status"], done["processed"], done["total"]) == ("done", 5, 5)


def test_preview_validates_without_writing(api, db):
    alice = api("alice")
    job = upload(alice, csv_bytes(FRENCH)).json()
    alice.post(f"/api/v1/imports/{job['id']}/mapping", json={"mapping": job["mapping"]})
    audit_before = db.scalar(select(func.count()).select_from(AuditEntry))
    r = alice.get(f"/api/v1/imports/{job['id']}/preview")
    assert r.status_code == 200
    items = r.json()["items"]
    assert [(i["line"], i["action"]) for i in items] == [
        (2, "create"),
        (3, "error"),
        (4, "create"),
        (5, "error"),
        (6, "create"),
    ]
    assert items[0]["values"] == {
        "name": "Société Générale",
        "siren": "552 120 222",
        "phones": ["01 42 14 20 00"],
        "city": "Paris",
        "postal_code": "75009",
        "tags": ["banque", "grand compte"],
    }
    assert items[1]["errors"][0]["column"] == "SIREN"
    assert _orgs(alice) == []
    assert db.scalar(select(func.count()).select_from(AuditEntry)) == audit_before
    assert alice.get(f"/api/v1/imports/{job['id']}").json()["status"] == "mapped"


def test_mapping_errors(api):
    alice = api("alice")
    job = upload(alice, csv_bytes(FRENCH)).json()
    url = f"/api/v1/imports/{job['id']}/mapping"
    r = alice.post(url, json={"mapping": {"SIREN": "siren"}})
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["mapping"]
    r = alice.post(url, json={"mapping": {"Nom de l'entreprise": "name", "Ville": "name"}})
    assert r.json()["errors"][0]["field"] == "mapping.Ville"
    r = alice.post(url, json={"mapping": {"Nom de l'entreprise": "name", "Nope": "city", "Ville": "nosuch"}})
    assert [e["code"] for e in r.json()["errors"]] == ["unknown_column", "unknown_field"]
    r = alice.post(url, json={"mapping": job["mapping"], "duplicate_mode": "merge"})
    assert r.status_code == 422
    r = alice.post(url, json={"mapping": job["mapping"], "match_keys": ["email"]})
    assert r.json()["errors"][0]["field"] == "match_keys"
    assert alice.post(f"/api/v1/imports/{job['id']}/run").status_code == 409  # not mapped yet
    assert alice.get(f"/api/v1/imports/{job['id']}").json()["status"] == "uploaded"


def test_run_only_once(api):
    alice = api("alice")
    done = run_file(alice, csv_bytes([["Nom"], ["Une"]]))
    assert alice.post(f"/api/v1/imports/{done['id']}/run").status_code == 409
    assert (
        alice.post(f"/api/v1/imports/{done['id']}/mapping", json={"mapping": {"Nom": "name"}}).status_code
        == 409
    )
    assert len(_orgs(alice)) == 1


def test_oversized_file_is_413(api, db, monkeypatch):
    monkeypatch.setenv("CARNET_IMPORT_MAX_BYTES", "100")
    from carnet.settings import get_settings

    get_settings.cache_clear()
    r = upload(api("alice"), csv_bytes([["Nom"]] + [[f"Organisation {i}"] for i in range(20)]))
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("application/problem+json")
    assert db.scalar(select(func.count()).select_from(ImportJob)) == 0


@pytest.mark.parametrize(
    ("content", "filename"),
    [
        (b"", "vide.csv"),
        (b"\x00\x01\x02\x03binary", "binaire.csv"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1old", "ancien.xls"),
        (b"PK\x03\x04not really a zip", "faux.xlsx"),
        (b"\n\n   \n", "blanc.csv"),
    ],
)
def test_unreadable_files_are_422(api, db, content, filename):
    r = upload(api("alice"), content, filename)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "file"
    assert db.scalar(select(func.count()).select_from(ImportJob)) == 0


def test_permissions_and_ownership(api, db):
    content = csv_bytes([["Nom"], ["Une"]])
    for key in ("reader", "fiona"):  # read-only; finance has no imports:create
        assert upload(api(key), content).status_code == 403
    assert db.scalar(select(func.count()).select_from(ImportJob)) == 0
    assert upload(api("alice"), content, record_type="nosuchthing").status_code == 422

    done = run_file(api("alice"), content)
    bob = api("bob")
    assert bob.get(f"/api/v1/imports/{done['id']}").status_code == 404
    assert bob.get(f"/api/v1/imports/{done['id']}/report").status_code == 404
    assert bob.post(f"/api/v1/imports/{done['id']}/undo").status_code == 404
    assert bob.get("/api/v1/imports").json()["items"] == []
    assert api("admin").get(f"/api/v1/imports/{done['id']}").status_code == 200
    assert [j["id"] for j in api("alice").get("/api/v1/imports").json()["items"]] == [done["id"]]


def test_organisations_module_name_and_unknown_owner(api, personas):
    alice = api("alice")
    content = csv_bytes(
        [["Nom", "Owner email"], ["A Bob", "bob@example.fr"], ["Personne", "nobody@example.fr"]]
    )
    r = upload(alice, content, record_type="organisations")
    assert r.json()["record_type"] == "organisation"
    done = run_file(alice, content)
    assert (done["created"], done["failed"]) == (1, 1)
    org = _orgs(alice)[0]
    assert (org["name"], org["owner_id"]) == ("A Bob", personas["bob"].id)
    failed = alice.get(f"/api/v1/imports/{done['id']}/report?status=failed").json()["items"][0]
    assert (failed["line"], failed["errors"][0]["column"]) == (3, "Owner email")


def test_starting_an_import_enqueues_a_job_that_the_runner_runs(db, actor_of, inline_jobs):
    from carnet.core import jobs

    actor = actor_of("alice")
    job = service.create_job(
        db, actor, "organisation", "fond.csv", io.BytesIO(csv_bytes([["Nom"], ["Tâche de fond"]]))
    )
    service.set_mapping(db, actor, job, {"Nom": "name"})
    inline_jobs["start_import"](db, actor, job)  # not run inline: only marked and queued
    queued = db.scalars(select(jobs.Job).where(jobs.Job.name == "imports.run")).all()
    assert [(q.status, q.payload["import_id"], q.payload["user_id"]) for q in queued] == [
        ("queued", job.id, actor.user_id)
    ]
    assert db.get(ImportJob, job.id).status == "running"

    jobs.drain()
    db.expire_all()
    job = db.get(ImportJob, job.id)
    assert (job.status, job.created) == ("done", 1)
    assert db.scalar(
        select(Organisation.name).where(Organisation.id == db.scalar(select(ImportRow.record_id)))
    ) == ("Tâche de fond")
    assert db.scalars(select(jobs.Job.status).where(jobs.Job.name == "imports.run")).all() == ["done"]


def test_stale_running_job_resumes_after_the_last_batch(api, db, actor_of, monkeypatch, inline_jobs):
    from datetime import timedelta

    from carnet.core import clock

    monkeypatch.setattr(service, "CHUNK_SIZE", 2)
    actor = actor_of("alice")
    rows = [["Nom"]] + [[f"Org {i}"] for i in range(5)]
    job = service.create_job(db, actor, "organisation", "reprise.csv", io.BytesIO(csv_bytes(rows)))
    service.set_mapping(db, actor, job, {"Nom": "name"})
    inline_jobs["start_import"](db, actor, job)
    calls = 0
    original = service._run_chunk

    def crash_after_first(*args):
        nonlocal calls
        calls += 1
        if calls == 2:
            raise SystemExit  # the process died mid-run
        original(*args)

    monkeypatch.setattr(service, "_run_chunk", crash_after_first)
    with pytest.raises(SystemExit):
        service.run_import(job.id, actor)
    monkeypatch.setattr(service, "_run_chunk", original)
    db.expire_all()
    assert (db.get(ImportJob, job.id).status, db.get(ImportJob, job.id).processed) == ("running", 2)
    from carnet.core.errors import Conflict

    with pytest.raises(Conflict):  # still fresh: maybe another process is on it
        inline_jobs["start_import"](db, actor, db.get(ImportJob, job.id))
    db.rollback()
    clock.advance(timedelta(minutes=10))
    inline_jobs["start_import"](db, actor, db.get(ImportJob, job.id))
    service.run_import(job.id, actor)
    db.expire_all()
    job = db.get(ImportJob, job.id)
    assert (job.status, job.processed, job.created) == ("done", 5, 5)
    assert sorted(o["name"] for o in _orgs(api("alice"))) == [f"Org {i}" for i in range(5)]


def test_run_with_an_idempotency_key_still_runs_once(api):
    alice = api("alice")
    job = upload(alice, csv_bytes([["Nom"], ["Une"]])).json()
    alice.post(f"/api/v1/imports/{job['id']}/mapping", json={"mapping": job["mapping"]})
    headers = {"Idempotency-Key": "run-1"}
    first = alice.post(f"/api/v1/imports/{job['id']}/run", headers=headers)
    again = alice.post(f"/api/v1/imports/{job['id']}/run", headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.headers.get("idempotent-replayed") == "true"
    assert alice.get(f"/api/v1/imports/{job['id']}").json()["created"] == 1


def test_maintenance_purges_finished_imports_past_retention(db, api):
    """CARNET_RETENTION_IMPORT_DAYS: old finished imports and their files go, recent ones stay."""
    from datetime import timedelta

    from carnet.core import clock
    from carnet.imports import service as imports
    from carnet.imports.models import ImportJob
    from carnet.settings import get_settings

    r = api("alice").post(
        "/api/v1/imports",
        files={"file": ("orgs.csv", b"Nom;SIREN\nBoulangerie Test;\n", "text/csv")},
        data={"record_type": "organisations"},
    )
    assert r.status_code == 201, r.text
    job = db.get(ImportJob, r.json()["id"])
    job.status, job.finished_at = "done", clock.now()
    db.commit()
    path = imports._path(job)
    assert path.exists()
    settings = get_settings()
    assert imports.purge_finished(db, settings, dry_run=True) == 0
    clock.advance(timedelta(days=settings.retention_import_days + 1))
    assert imports.purge_finished(db, settings, dry_run=True) == 1
    assert path.exists()
    assert imports.purge_finished(db, settings, dry_run=False) == 1
    assert db.get(ImportJob, job.id) is None and not path.exists()
