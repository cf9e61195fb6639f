"""Deal imports: Pipedrive and HubSpot headers, pipeline and stage by name (won/lost through the
stage), French and English amounts and dates, broken rows reported by line, undo."""

from __future__ import annotations

import pytest
from import_helpers import csv_bytes, run_file, upload, xlsx_bytes
from markupsafe import escape

from carnet.core import i18n
from carnet.deals import pipelines
from carnet.deals.models import Pipeline


def _fr(message: str, **params) -> str:
    return i18n.gettext(message, "fr", **params)


def _deals(client) -> dict[str, dict]:
    items = client.get("/api/v1/deals", params={"limit": 200}).json()["items"]
    return {d["title"]: d for d in items}


def _failed(client, job_id: int) -> list[tuple[int, list[tuple[str, str, str]]]]:
    rows = client.get(f"/api/v1/imports/{job_id}/report", params={"status": "failed"}).json()["items"]
    return [(r["line"], [(e["field"], e["column"], e["message"]) for e in r["errors"]]) for r in rows]


@pytest.fixture
def stages(db) -> dict[tuple[str, str], int]:
    """{(pipeline name, stage name): stage id} of the two demo pipelines."""
    pipelines.ensure_default_pipelines(db)
    db.commit()
    out = {}
    for pipeline in db.query(Pipeline).all():
        for stage in pipelines.stages(db, pipeline):
            out[(pipeline.name, stage.name)] = stage.id
        out[(pipeline.name, "")] = pipeline.id
    return out


@pytest.fixture
def orgs(api):
    alice = api("alice")
    ids = {}
    for key, fields in (
        ("boul", {"name": "Boulangerie Martin"}),
        ("sg", {"name": "Société Générale", "siren": "552120222"}),
    ):
        r = alice.post("/api/v1/organisations", json=fields)
        assert r.status_code == 201, r.text
        ids[key] = r.json()["id"]
    return ids


PIPEDRIVE = [
    [
        "Deal - Title",
        "Deal - Value",
        "Deal - Stage",
        "Deal - Pipeline",
        "Deal - Expected close date",
        "Deal - Organization",
        "Deal - Status",
        "Deal - Lost reason",
    ],
    [
        "Offre Premium",
        "12 500,50 €",
        "Proposition",
        "Ventes B2B",
        "30/06/2026",
        "boulangerie martin",
        "open",
        "",
    ],
    ["Contrat cadre", "12500.50", "Négociation", "Établissements de santé", "2026-07-15", "", "won", ""],
    ["Perdu sans raison", "1000", "Qualification", "Ventes B2B", "", "", "lost", ""],
    ["Trop cher", "1 000", "Découverte", "", "", "", "lost", "Prix"],
    ["Montant illisible", "douze", "", "", "", "", "", ""],
    ["Étape inconnue", "", "Signature", "Ventes B2B", "", "", "", ""],
    ["Pipeline inconnu", "", "", "Export", "", "", "", ""],
    ["Date impossible", "", "", "", "31/02/2026", "", "", ""],
    ["", "500", "", "", "", "", "", ""],
    ["Client inconnu", "", "", "", "", "Inconnue SA", "", ""],
    ["Ambigu", "12,500", "", "", "", "", "", ""],
]


def test_pipedrive_file_with_broken_rows(api, stages, orgs, personas):
    alice = api("alice")
    job = upload(alice, csv_bytes(PIPEDRIVE), "pipedrive.csv", "deal").json()
    assert job["mapping"] == {
        "Deal - Title": "title",
        "Deal - Value": "amount",
        "Deal - Stage": "stage",
        "Deal - Pipeline": "pipeline",
        "Deal - Expected close date": "expected_close_date",
        "Deal - Organization": "organisation",
        "Deal - Status": "status",
        "Deal - Lost reason": "lost_reason",
    }
    assert job["match_keys"] == []
    done = run_file(alice, csv_bytes(PIPEDRIVE), "pipedrive.csv", record_type="deal")
    assert (done["status"], done["total"], done["created"], done["failed"]) == ("done", 11, 3, 8)

    deals = _deals(alice)
    assert sorted(deals) == ["Contrat cadre", "Offre Premium", "Trop cher"]
    premium = deals["Offre Premium"]
    assert {
        k: premium[k]
        for k in (
            "amount",
            "pipeline_id",
            "stage_id",
            "status",
            "expected_close_date",
            "organisation_id",
            "owner_id",
        )
    } == {
        "amount": "12500.50",
        "pipeline_id": stages[("Ventes B2B", "")],
        "stage_id": stages[("Ventes B2B", "Proposition")],
        "status": "open",
        "expected_close_date": "2026-06-30",
        "organisation_id": orgs["boul"],
        "owner_id": personas["alice"].id,
    }
    # A won deal keeps the last open stage in Pipedrive: here it goes to the pipeline's won stage.
    cadre = deals["Contrat cadre"]
    assert (cadre["amount"], cadre["stage_id"], cadre["status"], cadre["expected_close_date"]) == (
        "12500.50",
        stages[("Établissements de santé", "Gagné")],
        "won",
        "2026-07-15",
    )
    lost = deals["Trop cher"]  # no pipeline: the default one
    assert (lost["stage_id"], lost["status"], lost["lost_reason"], lost["amount"]) == (
        stages[("Ventes B2B", "Perdu")],
        "lost",
        "Prix",
        "1000.00",
    )

    assert _failed(alice, done["id"]) == [
        (4, [("lost_reason", "Deal - Lost reason", _fr("Give the reason this deal was lost"))]),
        (6, [("amount", "Deal - Value", _fr("Enter an amount in euros, such as 12500.50"))]),
        (7, [("stage", "Deal - Stage", _fr("Unknown stage"))]),
        (8, [("pipeline", "Deal - Pipeline", _fr("Unknown pipeline"))]),
        (
            9,
            [
                (
                    "expected_close_date",
                    "Deal - Expected close date",
                    _fr("Enter a date such as 2026-06-30"),
                )
            ],
        ),
        (10, [("title", "Deal - Title", _fr("This field is required"))]),
        (11, [("organisation", "Deal - Organization", _fr("Unknown organisation"))]),
        (
            12,
            [
                (
                    "amount",
                    "Deal - Value",
                    _fr("Write the amount without a thousands separator, such as 12500 or 12500,50"),
                )
            ],
        ),
    ]


def test_hubspot_xlsx_with_closed_won_stage_and_times(api, stages, orgs):
    alice = api("alice")
    content = xlsx_bytes(
        [
            ["Deal Name", "Amount", "Close Date", "Deal Stage", "Pipeline", "SIREN"],
            ["Renouvellement", 12500.5, "2026-05-31 14:30", "Closed Won", "Ventes B2B", 552120222],
            ["Nouveau site", "8000", "2026-09-01T00:00:00Z", "Qualification", "", None],
            ["Audit", None, None, None, None, None],
        ]
    )
    job = upload(alice, content, "hubspot.xlsx", "deal").json()
    assert job["mapping"] == {
        "Deal Name": "title",
        "Amount": "amount",
        "Close Date": "expected_close_date",
        "Deal Stage": "stage",
        "Pipeline": "pipeline",
        "SIREN": "organisation_number",
    }
    done = run_file(alice, content, "hubspot.xlsx", record_type="deal")
    assert (done["created"], done["failed"]) == (3, 0), _failed(alice, done["id"])
    deals = _deals(alice)
    won = deals["Renouvellement"]
    assert (
        won["amount"],
        won["expected_close_date"],
        won["stage_id"],
        won["status"],
        won["organisation_id"],
    ) == (
        "12500.50",
        "2026-05-31",
        stages[("Ventes B2B", "Gagné")],
        "won",
        orgs["sg"],
    )
    assert (deals["Nouveau site"]["expected_close_date"], deals["Nouveau site"]["stage_id"]) == (
        "2026-09-01",
        stages[("Ventes B2B", "Qualification")],
    )
    # Nothing said: the default pipeline's first open stage.
    assert deals["Audit"]["stage_id"] == stages[("Ventes B2B", "Qualification")]


def test_french_headers_and_other_fields(api, stages, personas):
    rows = [
        [
            "Titre",
            "Montant",
            "Étape",
            "Date de clôture prévue",
            "Devise",
            "Probabilité",
            "Étiquettes",
            "E-mail du propriétaire",
            "Source",
        ],
        [
            "Offre Santé",
            "3 200",
            "négociation",
            "01/12/2026",
            "EUR",
            "80 %",
            "salon, hôpital",
            "bob@example.fr",
            "Salon",
        ],
        ["Offre en dollars", "3 200", "", "", "USD", "", "", "", ""],
        ["Statut contraire", "", "Gagné", "", "", "", "", "", ""],
    ]
    rows[0].append("Statut")
    rows[1].append("")
    rows[2].append("")
    rows[3].append("ouvert")
    alice = api("alice")
    done = run_file(alice, csv_bytes(rows), "affaires.csv", record_type="deal")
    assert (done["created"], done["failed"]) == (1, 2)
    deal = _deals(api("bob"))["Offre Santé"]
    assert {
        k: deal[k]
        for k in ("amount", "stage_id", "expected_close_date", "probability", "tags", "owner_id", "source")
    } == {
        "amount": "3200.00",
        "stage_id": stages[("Ventes B2B", "Négociation")],
        "expected_close_date": "2026-12-01",
        "probability": 80,
        "tags": ["hôpital", "salon"],
        "owner_id": personas["bob"].id,
        "source": "Salon",
    }
    assert _failed(alice, done["id"]) == [
        (3, [("currency", "Devise", _fr("Only euros (EUR) are supported"))]),
        (4, [("status", "Statut", _fr("The status does not match the stage"))]),
    ]


def test_french_pipedrive_and_hubspot_headers_are_recognised(api, stages):
    alice = api("alice")
    pipedrive = [
        "Affaire - Titre",
        "Affaire - Valeur",
        "Affaire - Étape",
        "Affaire - Pipeline",
        "Affaire - Date de clôture prévue",
        "Affaire - Organisation",
        "Affaire - Statut",
    ]
    job = upload(alice, csv_bytes([pipedrive, ["a"] * 7]), "pipedrive.csv", "deal").json()
    assert list(job["mapping"].values()) == [
        "title",
        "amount",
        "stage",
        "pipeline",
        "expected_close_date",
        "organisation",
        "status",
    ]
    hubspot = ["Nom de la transaction", "Montant", "Date de fermeture", "Phase de la transaction", "Pipeline"]
    job = upload(alice, csv_bytes([hubspot, ["a"] * 5]), "hubspot.csv", "deal").json()
    assert list(job["mapping"].values()) == ["title", "amount", "expected_close_date", "stage", "pipeline"]


def test_undo_deletes_the_imported_deals(api, stages):
    alice = api("alice")
    rows = [["Deal - Title", "Deal - Value"], ["Première", "100"], ["Seconde", "200"]]
    done = run_file(alice, csv_bytes(rows), "affaires.csv", record_type="deal")
    assert done["created"] == 2
    kept = _deals(alice)["Seconde"]
    alice.patch(f"/api/v1/deals/{kept['id']}", json={"amount": "250"})
    assert alice.post(f"/api/v1/imports/{done['id']}/undo").status_code == 202
    job = alice.get(f"/api/v1/imports/{done['id']}").json()
    assert job["undo_summary"] == {"deleted": 1, "restored": 0, "kept": 1}
    assert sorted(_deals(alice)) == ["Seconde"]


def test_no_pipeline_at_all_is_a_row_error(api, db):
    assert db.query(Pipeline).count() == 0
    alice = api("alice")
    done = run_file(alice, csv_bytes([["Titre"], ["Offre"]]), "affaires.csv", record_type="deal")
    assert _failed(alice, done["id"]) == [
        (2, [("pipeline", "", _fr("There is no pipeline to put this deal in"))]),
    ]


def test_mapping_page_says_every_row_creates(web, stages):
    alice = web("alice")
    r = alice.post(
        "/imports",
        files={"file": ("affaires.csv", csv_bytes([["Titre"], ["Offre"]]), "text/csv")},
        data={"record_type": "deal"},
        headers={"X-CSRF-Token": alice.csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = alice.get(r.headers["location"]).text
    assert 'name="duplicate_mode" value="create"' in page
    assert 'id="f-duplicate_mode"' not in page
    message = (
        "Every row creates a new record: this kind of record has no key to recognise one that already exists."
    )
    assert escape(_fr(message)) in page
