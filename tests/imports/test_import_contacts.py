"""Contact imports: HubSpot and Pipedrive headers (English and French), the organisation found by
name or SIREN/SIRET, broken rows reported by line, duplicates matched on email, undo."""

from __future__ import annotations

import pytest
from import_helpers import csv_bytes, run_file, upload, xlsx_bytes

from carnet.core import i18n


def _fr(message: str, **params) -> str:
    return i18n.gettext(message, "fr", **params)


def _contacts(client, **params) -> dict[str, dict]:
    items = client.get("/api/v1/contacts", params={"limit": 200, **params}).json()["items"]
    return {c["last_name"]: c for c in items}


def _failed(client, job_id: int) -> list[tuple[int, list[tuple[str, str, str]]]]:
    rows = client.get(f"/api/v1/imports/{job_id}/report", params={"status": "failed"}).json()["items"]
    return [(r["line"], [(e["field"], e["column"], e["message"]) for e in r["errors"]]) for r in rows]


@pytest.fixture
def orgs(api):
    alice = api("alice")

    def make(client, **fields):
        r = client.post("/api/v1/organisations", json=fields)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    return {
        "sg": make(alice, name="Société Générale", siren="552120222"),
        "sg_lyon": make(alice, name="Société Générale Lyon", siret="55212022200013"),
        "boul": make(alice, name="Boulangerie Martin"),
        "dupont1": make(alice, name="Dupont SA", city="Lyon"),
        "dupont2": make(alice, name="Dupont SA", siren="404833048", city="Brest"),
        "hidden": make(api("outsider"), name="Cabinet Finance"),
    }


HUBSPOT = [
    ["First Name", "Last Name", "Email", "Phone Number", "Job Title", "Company Name"],
    ["Claire", "Martin", "claire.martin@sg.fr", "01 42 14 20 00", "DAF", "SOCIÉTÉ GÉNÉRALE"],
    ["Paul", "Durand", "paul@boulangerie.fr", "", "Gérant", "boulangerie martin"],
    ["Jean", "", "jean@exemple.fr", "", "", ""],
    ["Anne", "Petit", "anne@exemple.fr", "", "", "Inconnue SA"],
    ["Luc", "Bernard", "pas-un-email", "", "", ""],
    ["Zoé", "Leroy", "zoe@exemple.fr", "06 12 34 56 78", "", ""],
    ["Marc", "Secret", "marc@exemple.fr", "", "", "Cabinet Finance"],
    ["Léa", "Homonyme", "lea@exemple.fr", "", "", "Dupont SA"],
]


def test_hubspot_file_with_broken_rows(api, orgs):
    alice = api("alice")
    job = upload(alice, csv_bytes(HUBSPOT, delimiter=","), "hubspot.csv", "contact").json()
    assert job["mapping"] == {
        "First Name": "first_name",
        "Last Name": "last_name",
        "Email": "emails",
        "Phone Number": "phones",
        "Job Title": "job_title",
        "Company Name": "organisation",
    }
    assert (job["record_type"], job["match_keys"]) == ("contact", ["email"])
    done = run_file(alice, csv_bytes(HUBSPOT, delimiter=","), "hubspot.csv", record_type="contact")
    assert (done["status"], done["total"], done["created"], done["failed"]) == ("done", 8, 3, 5)

    contacts = _contacts(alice)
    assert sorted(contacts) == ["Durand", "Leroy", "Martin"]
    claire = contacts["Martin"]
    assert (claire["first_name"], claire["emails"], claire["phones"], claire["job_title"]) == (
        "Claire",
        ["claire.martin@sg.fr"],
        ["+33142142000"],
        "DAF",
    )
    # The name matched whatever its case, accents included, and the link is the main one.
    assert claire["organisations"] == [{"organisation_id": orgs["sg"], "role": None, "is_primary": True}]
    assert contacts["Durand"]["organisations"][0]["organisation_id"] == orgs["boul"]
    assert contacts["Leroy"]["organisations"] == []

    unknown = _fr("Unknown organisation")
    assert _failed(alice, done["id"]) == [
        (4, [("last_name", "Last Name", _fr("This field is required"))]),
        (5, [("organisation", "Company Name", unknown)]),
        (6, [("emails.0", "Email", _fr("Enter a valid email address"))]),
        (8, [("organisation", "Company Name", unknown)]),  # another department's: not found
        (
            9,
            [
                (
                    "organisation",
                    "Company Name",
                    _fr(
                        "Several organisations are named “{name}”: add a SIREN column to choose",
                        name="Dupont SA",
                    ),
                )
            ],
        ),
    ]


def test_pipedrive_xlsx_with_full_names_and_company_numbers(api, orgs):
    alice = api("alice")
    content = xlsx_bytes(
        [
            ["Person - Name", "Person - Email", "Person - Phone", "Organization - Name", "SIREN"],
            ["MARTIN Claire", "claire@sg.fr", 612345678, "Société Générale", 552120222],
            ["Paul de La Tour", "paul@sg.fr", None, None, 55212022200013],
            ["Léa Homonyme", "lea@dupont.fr", None, "Dupont SA", 404833048],
            ["Jean Sansnom", "jean@x.fr", None, None, 123456789],
        ]
    )
    job = upload(alice, content, "pipedrive.xlsx", "contact").json()
    assert job["mapping"] == {
        "Person - Name": "name",
        "Person - Email": "emails",
        "Person - Phone": "phones",
        "Organization - Name": "organisation",
        "SIREN": "organisation_number",
    }
    done = run_file(alice, content, "pipedrive.xlsx", record_type="contact")
    assert (done["created"], done["failed"]) == (3, 1)
    contacts = _contacts(alice)
    claire = contacts["MARTIN"]
    assert (claire["first_name"], claire["phones"]) == ("Claire", ["+33612345678"])
    assert claire["organisations"][0]["organisation_id"] == orgs["sg"]
    paul = contacts["de La Tour"]
    assert paul["first_name"] == "Paul"
    assert paul["organisations"][0]["organisation_id"] == orgs["sg_lyon"]  # by SIRET
    # The SIREN settles which of the two "Dupont SA" is meant.
    assert contacts["Homonyme"]["organisations"][0]["organisation_id"] == orgs["dupont2"]
    assert _failed(alice, done["id"]) == [
        (5, [("organisation_number", "SIREN", _fr("Unknown organisation"))]),
    ]


def test_french_headers_are_recognised(api):
    hubspot_fr = [
        "Prénom",
        "Nom",
        "E-mail",
        "Numéro de téléphone",
        "Intitulé du poste",
        "Nom de l'entreprise",
    ]
    pipedrive_fr = ["Personne - Nom", "Personne - E-mail", "Personne - Téléphone", "Organisation - Nom"]
    alice = api("alice")
    job = upload(alice, csv_bytes([hubspot_fr, ["a"] * 6]), "hubspot.csv", "contact").json()
    assert list(job["mapping"].values()) == [
        "first_name",
        "last_name",
        "emails",
        "phones",
        "job_title",
        "organisation",
    ]
    job = upload(alice, csv_bytes([pipedrive_fr, ["a"] * 4]), "pipedrive.csv", "contact").json()
    assert list(job["mapping"].values()) == ["name", "emails", "phones", "organisation"]


def test_every_field_is_read(api, db, orgs, personas, actor_of):
    from carnet.core import customfields

    customfields.create_definition(
        db,
        actor_of("admin"),
        {"record_type": "contact", "key": "segment", "label": "Segment", "field_type": "text"},
    )
    rows = [
        [
            "Civilité",
            "Prénom",
            "Nom",
            "E-mail",
            "Entreprise",
            "Rôle",
            "LinkedIn",
            "RPPS",
            "Consentement",
            "Date du consentement",
            "Ne pas appeler",
            "E-mail du propriétaire",
            "Étiquettes",
            "Ville",
            "Segment",
        ],
        [
            "Madame",
            "Claire",
            "Martin",
            "claire@sg.fr; c.martin@perso.fr",
            "Société Générale",
            "Directrice financière",
            "linkedin.com/in/claire-martin",
            "10003456786",
            "Oui",
            "15/01/2026",
            "oui",
            "bob@example.fr",
            "salon, vip",
            "Paris",
            "Banque",
        ],
    ]
    done = run_file(api("alice"), csv_bytes(rows), "complet.csv", record_type="contact")
    assert (done["created"], done["failed"]) == (1, 0), _failed(api("alice"), done["id"])
    claire = _contacts(api("bob"))["Martin"]
    assert {
        k: claire[k]
        for k in (
            "civility",
            "emails",
            "primary_email",
            "organisations",
            "linkedin_url",
            "rpps",
            "marketing_consent",
            "do_not_call",
            "owner_id",
            "tags",
            "city",
            "custom_fields",
        )
    } == {
        "civility": "Mme",
        "emails": ["claire@sg.fr", "c.martin@perso.fr"],
        "primary_email": "claire@sg.fr",
        "organisations": [
            {"organisation_id": orgs["sg"], "role": "Directrice financière", "is_primary": True}
        ],
        "linkedin_url": "https://linkedin.com/in/claire-martin",
        "rpps": "10003456786",
        "marketing_consent": "granted",
        "do_not_call": True,
        "owner_id": personas["bob"].id,
        "tags": ["salon", "vip"],
        "city": "Paris",
        "custom_fields": {"segment": "Banque"},
    }
    assert claire["marketing_consent_at"].startswith("2026-01-1")  # midnight in Paris, in UTC


def test_role_without_organisation_and_unknown_owner_are_row_errors(api):
    rows = [
        ["Nom", "Rôle", "E-mail du propriétaire", "Ne pas appeler"],
        ["Martin", "DAF", "", ""],
        ["Durand", "", "personne@example.fr", ""],
        ["Petit", "", "", "peut-être"],
    ]
    alice = api("alice")
    done = run_file(alice, csv_bytes(rows), "erreurs.csv", record_type="contact")
    assert (done["created"], done["failed"]) == (0, 3)
    assert _failed(alice, done["id"]) == [
        (2, [("role", "Rôle", _fr("A role needs an organisation in the same row"))]),
        (3, [("owner_email", "E-mail du propriétaire", _fr("Unknown user"))]),
        (4, [("do_not_call", "Ne pas appeler", _fr("Unknown value “{value}”", value="peut-être"))]),
    ]


@pytest.fixture
def existing(api, orgs):
    r = api("alice").post(
        "/api/v1/contacts",
        json={
            "first_name": "Claire",
            "last_name": "Martin",
            "emails": ["claire.martin@sg.fr"],
            "phones": ["01 42 14 20 00"],
            "tags": ["banque"],
            "organisation_ids": [orgs["boul"]],
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


DUPLICATES = [
    ["Prénom", "Nom", "E-mail", "Téléphone", "Entreprise", "Rôle", "Étiquettes"],
    ["Claire", "Martin-Leroy", "Claire.Martin@SG.fr", "06 12 34 56 78", "Société Générale", "DAF", "salon"],
    ["Paul", "Durand", "paul@boulangerie.fr", "", "", "", ""],
]


def test_duplicates_on_email_are_skipped(api, existing):
    alice = api("alice")
    done = run_file(
        alice, csv_bytes(DUPLICATES), "contacts.csv", record_type="contact", duplicate_mode="skip"
    )
    assert (done["created"], done["updated"], done["skipped"]) == (1, 0, 1)
    assert alice.get(f"/api/v1/contacts/{existing['id']}").json() == existing
    row = alice.get(f"/api/v1/imports/{done['id']}/report").json()["items"][0]
    assert (row["status"], row["record_id"], row["note"]) == ("skipped", existing["id"], "Already exists")


def test_duplicates_update_adds_then_undo_restores(api, existing, orgs):
    alice = api("alice")
    done = run_file(
        alice, csv_bytes(DUPLICATES), "contacts.csv", record_type="contact", duplicate_mode="update"
    )
    assert (done["created"], done["updated"], done["skipped"]) == (1, 1, 0)
    now = alice.get(f"/api/v1/contacts/{existing['id']}").json()
    assert (now["last_name"], now["emails"], now["phones"], now["tags"]) == (
        "Martin-Leroy",
        ["claire.martin@sg.fr"],  # the same address in other capitals is not added twice
        ["+33142142000", "+33612345678"],
        ["banque", "salon"],
    )
    assert now["organisations"] == [
        {"organisation_id": orgs["boul"], "role": None, "is_primary": True},
        {"organisation_id": orgs["sg"], "role": "DAF", "is_primary": False},
    ]
    created = _contacts(alice)["Durand"]

    r = alice.post(f"/api/v1/imports/{done['id']}/undo")
    assert r.status_code == 202
    job = alice.get(f"/api/v1/imports/{done['id']}").json()
    assert (job["status"], job["undo_summary"]) == ("undone", {"deleted": 1, "restored": 1, "kept": 0})
    after = alice.get(f"/api/v1/contacts/{existing['id']}").json()
    volatile = ("version", "updated_at", "updated_by_id")
    assert {k: v for k, v in after.items() if k not in volatile} == {
        k: v for k, v in existing.items() if k not in volatile
    }
    assert alice.get(f"/api/v1/contacts/{created['id']}").status_code == 404


def test_duplicates_within_the_file(api):
    rows = [["Nom", "E-mail"], ["Première", "a@exemple.fr"], ["Seconde", "A@exemple.fr"]]
    done = run_file(api("alice"), csv_bytes(rows), "doublons.csv", record_type="contact")
    assert (done["created"], done["skipped"]) == (1, 1)


def test_reader_cannot_import_contacts(api):
    r = upload(api("reader"), csv_bytes(HUBSPOT), "hubspot.csv", "contact")
    assert r.status_code == 403
