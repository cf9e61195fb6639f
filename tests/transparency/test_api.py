"""The transparency register through the API: CRUD with the rules' verdict, dated thresholds,
the declaration export, reports, traceability and permissions."""

from __future__ import annotations

from typing import Any

PLACE = "CHU de Nantes, 5 allée de l'Île Gloriette 44000 Nantes"
HEADER = (
    "Entreprise;Type de lien;Catégorie du bénéficiaire;Nom;Prénom;Type d'identifiant;Identifiant;"
    "Profession;Établissement / adresse;Date;Nature;Montant TTC;Référence convention;Événement;Objet"
)


def test_create_a_benefit_with_the_rules_verdict(api: Any, doctor: int, make_benefit: Any) -> None:
    benefit = make_benefit(
        contact_id=doctor, granted_on="2026-01-08", nature="meal", amount="25,50", event="Congrès cardio"
    )
    assert benefit["amount"] == "25.50" and benefit["beneficiary_category"] == "health_professional"
    assert benefit["rules"] == {
        "published": True,
        "publication_due": "2026-09-01",
        "formality": "negligible",
        "deadline": None,
        "reasons": ["25.50 € reaches 10.00 €: published", "25.50 € within 30.00 €: negligible value"],
        "warnings": [],
    }
    got = api("alice").get(f"/api/v1/benefits/{benefit['id']}")
    assert got.status_code == 200 and got.json() == benefit


def test_bad_input_is_a_field_error_and_nothing_is_stored(api: Any, doctor: int, chu: int) -> None:
    before = api("admin").get("/api/v1/benefits").json()["items"]
    cases = [
        ({"contact_id": doctor, "organisation_id": chu}, "contact_id", "beneficiary"),
        ({"contact_id": doctor, "amount": "-5"}, "amount", "negative"),
        ({"contact_id": doctor, "nature": "cash"}, "nature", "invalid_choice"),
        ({"contact_id": 999999}, "contact_id", "unknown"),
        ({"contact_id": doctor, "formality_status": "declared"}, "declared_on", "required"),
        ({"contact_id": doctor, "agreement_id": 999999}, "agreement_id", "unknown"),
    ]
    for extra, field, code in cases:
        body = {"granted_on": "2026-01-08", "nature": "meal", "amount": "20", **extra}
        r = api("alice").post("/api/v1/benefits", json=body)
        assert r.status_code == 422, (extra, r.text)
        assert (field, code) in [(e["field"], e["code"]) for e in r.json()["errors"]], r.json()
    assert api("admin").get("/api/v1/benefits").json()["items"] == before


def test_a_benefit_before_and_after_a_threshold_change(api: Any, doctor: int, make_benefit: Any) -> None:
    thresholds = api("alice").get("/api/v1/transparency-thresholds").json()
    meal = next(t for t in thresholds if (t["key"], t["nature"]) == ("negligible", "meal"))
    assert (meal["amount"], meal["valid_to"]) == ("30.00", None)
    # Only administrators change the legal amounts; a refused change leaves them as they were.
    r = api("manager").patch(f"/api/v1/transparency-thresholds/{meal['id']}", json={"valid_to": "2026-02-28"})
    assert r.status_code == 403
    assert api("alice").get("/api/v1/transparency-thresholds").json() == thresholds
    # A new amount cannot overlap the one in force.
    new = {
        "key": "negligible",
        "nature": "meal",
        "amount": "25.00",
        "valid_from": "2026-03-01",
        "source": "Arrêté X",
    }
    r = api("admin").post("/api/v1/transparency-thresholds", json=new)
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "overlap"
    r = api("admin").patch(f"/api/v1/transparency-thresholds/{meal['id']}", json={"valid_to": "2026-02-28"})
    assert r.status_code == 200 and r.json()["valid_to"] == "2026-02-28"
    r = api("admin").post("/api/v1/transparency-thresholds", json=new)
    assert r.status_code == 201, r.text

    before = make_benefit(contact_id=doctor, granted_on="2026-02-27", nature="meal", amount="28.00")
    after = make_benefit(contact_id=doctor, granted_on="2026-03-02", nature="meal", amount="28.00")
    assert (before["rules"]["formality"], before["rules"]["warnings"]) == ("negligible", [])
    assert after["rules"]["formality"] == "agreement_required"
    assert after["rules"]["warnings"] == ["Above the negligible value: this benefit needs an agreement"]


def test_agreement_formality_and_benefits_under_it(
    api: Any, doctor: int, make_agreement: Any, make_benefit: Any
) -> None:
    agreement = make_agreement(contact_id=doctor, nature="fee", amount="1500.00", start_date="2026-03-02")
    assert agreement["rules"]["formality"] == "declaration"
    assert agreement["rules"]["deadline"] == "2026-02-18"  # 8 working days before 2 March
    assert agreement["rules"]["warnings"] == ["Declaration needed but none recorded"]
    # A fee beyond 2 000 € under it turns the agreement into an authorisation case.
    benefit = make_benefit(
        agreement_id=agreement["id"], granted_on="2026-03-02", nature="fee", amount="2400.00"
    )
    assert benefit["contact_id"] == doctor and benefit["rules"]["formality"] == "authorisation"
    got = api("alice").get(f"/api/v1/agreements/{agreement['id']}").json()
    assert got["rules"]["formality"] == "authorisation" and got["rules"]["deadline"] == "2026-01-02"
    assert got["rules"]["warnings"] == ["Authorisation needed but none recorded", "Deadline passed"]
    r = api("alice").patch(
        f"/api/v1/agreements/{agreement['id']}",
        json={
            "formality_status": "authorised",
            "authorisation_requested_on": "2025-12-20",
            "authorisation_decided_on": "2026-01-05",
        },
    )
    assert r.status_code == 200 and r.json()["rules"]["warnings"] == []
    # Deleting an agreement with benefits under it is refused; nothing changes.
    assert api("manager").delete(f"/api/v1/agreements/{agreement['id']}").status_code == 409
    assert api("alice").get(f"/api/v1/agreements/{agreement['id']}").status_code == 200


def test_export_is_declaration_ready(
    api: Any, company: Any, chu: int, doctor: int, make_agreement: Any, make_benefit: Any
) -> None:
    make_benefit(
        contact_id=doctor,
        granted_on="2026-01-08",
        nature="meal",
        amount="25.50",
        event="Congrès cardio",
        description="Déjeuner",
    )
    make_benefit(contact_id=doctor, granted_on="2026-01-09", nature="meal", amount="9.00")  # below 10 €
    make_benefit(
        contact_id=doctor, granted_on="2026-02-10", nature="hospitality", amount="150"
    )  # out of range
    agreement = make_agreement(contact_id=doctor, amount="1200.00", event="Symposium", purpose="Formation")
    make_benefit(agreement_id=agreement["id"], granted_on="2026-01-12", nature="fee", amount="1200.00")
    make_benefit(
        organisation_id=chu,
        granted_on="2026-01-11",
        nature="gift",
        amount="300",
        description="Don de matériel",
    )

    r = api("manager").get("/api/v1/benefits/export?from=2026-01-01&to=2026-01-31")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.content.startswith("\ufeff".encode())
    doctor_id = "Durand;Claire;RPPS;10003879623;Médecin;" + PLACE
    assert r.content.decode("utf-8-sig").split("\r\n") == [
        HEADER,
        f"Médicalis;Avantage;Professionnel de santé;{doctor_id};08/01/2026;Repas;25,50;;Congrès cardio;Déjeuner",
        f"Médicalis;Convention;Professionnel de santé;{doctor_id};10/01/2026;Rémunération;1200,00;CONV-2026-001;Symposium;Formation",
        f"Médicalis;Avantage;Établissement de santé;CHU de Nantes;;FINESS;750712184;;{PLACE};11/01/2026;Don;300,00;;;Don de matériel",
        f"Médicalis;Avantage;Professionnel de santé;{doctor_id};12/01/2026;Rémunération;1200,00;CONV-2026-001;;",
        "",
    ]
    only_first_week = api("manager").get("/api/v1/benefits/export?from=2026-01-01&to=2026-01-08")
    assert only_first_week.content.decode("utf-8-sig").count("\r\n") == 2
    r = api("manager").get("/api/v1/benefits/export?from=2026-01-31&to=2026-01-01")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "to"
    # Sales may record, not export.
    assert api("alice").get("/api/v1/benefits/export?from=2026-01-01&to=2026-01-31").status_code == 403


def test_reports_per_professional_and_per_establishment(
    api: Any, chu: int, doctor: int, make_agreement: Any, make_benefit: Any
) -> None:
    make_benefit(contact_id=doctor, granted_on="2025-12-08", nature="meal", amount="20.00")
    make_benefit(contact_id=doctor, granted_on="2026-01-08", nature="meal", amount="25.50")
    make_benefit(contact_id=doctor, granted_on="2026-01-09", nature="meal", amount="4.50")
    make_benefit(contact_id=doctor, granted_on="2026-01-12", nature="travel", amount="180.00")
    make_benefit(organisation_id=chu, granted_on="2026-01-11", nature="gift", amount="300")
    make_agreement(contact_id=doctor, amount="1200.00")

    report = api("alice").get(f"/api/v1/benefits/report?contact_id={doctor}").json()
    assert report["benefit_totals"] == [
        {"year": 2025, "nature": "meal", "count": 1, "amount": "20.00"},
        {"year": 2026, "nature": "meal", "count": 2, "amount": "30.00"},
        {"year": 2026, "nature": "travel", "count": 1, "amount": "180.00"},
    ]
    assert report["agreement_totals"] == [{"year": 2026, "count": 1, "amount": "1200.00"}]
    assert (report["benefits_total"], report["agreements_total"]) == ("230.00", "1200.00")

    report = api("alice").get(f"/api/v1/benefits/report?organisation_id={chu}").json()
    assert report["professionals"] == [{"contact_id": doctor, "name": "Claire Durand"}]
    assert report["benefits_total"] == "530.00" and len(report["benefits"]) == 5
    assert {"year": 2026, "nature": "gift", "count": 1, "amount": "300.00"} in report["benefit_totals"]
    assert api("alice").get("/api/v1/benefits/report").status_code == 422


def test_read_only_cannot_record_and_nothing_changes(
    api: Any, db: Any, doctor: int, make_benefit: Any
) -> None:
    from carnet.core import permissions

    for record_type in ("benefit", "contact"):
        permissions.set_scope(db, record_type, "all")
    db.commit()
    benefit = make_benefit(contact_id=doctor, granted_on="2026-01-08", nature="meal", amount="25.50")
    r = api("reader").post(
        "/api/v1/benefits",
        json={"contact_id": doctor, "granted_on": "2026-01-08", "nature": "gift", "amount": "5"},
    )
    assert r.status_code == 403
    assert api("reader").patch(f"/api/v1/benefits/{benefit['id']}", json={"amount": "1"}).status_code == 403
    assert api("alice").delete(f"/api/v1/benefits/{benefit['id']}").status_code == 403  # sales do not delete
    assert [b["id"] for b in api("reader").get("/api/v1/benefits").json()["items"]] == [benefit["id"]]
    assert api("reader").get(f"/api/v1/benefits/{benefit['id']}").json()["amount"] == "25.50"
    assert api("manager").delete(f"/api/v1/benefits/{benefit['id']}").status_code == 204


def test_list_filters(api: Any, chu: int, doctor: int, make_benefit: Any) -> None:
    a = make_benefit(contact_id=doctor, granted_on="2026-01-08", nature="meal", amount="25.50")
    b = make_benefit(contact_id=doctor, granted_on="2026-01-20", nature="travel", amount="80")
    c = make_benefit(organisation_id=chu, granted_on="2026-01-11", nature="gift", amount="300")

    def ids(query: str) -> list[int]:
        r = api("alice").get(f"/api/v1/benefits?{query}")
        assert r.status_code == 200, r.text
        return [x["id"] for x in r.json()["items"]]

    assert ids("from=2026-01-09&to=2026-01-31") == [b["id"], c["id"]]
    assert ids("nature=meal") == [a["id"]]
    assert ids(f"organisation_id={chu}") == [c["id"]]
    assert ids(f"contact_id={doctor}&sort=granted_on") == [a["id"], b["id"]]
    assert api("alice").get("/api/v1/benefits?from=janvier").status_code == 422


def test_every_write_is_audited(api: Any, doctor: int, make_benefit: Any) -> None:
    benefit = make_benefit(contact_id=doctor, granted_on="2026-01-08", nature="meal", amount="25.50")
    api("alice").patch(f"/api/v1/benefits/{benefit['id']}", json={"amount": "26.00"})
    api("manager").delete(f"/api/v1/benefits/{benefit['id']}")
    entries = api("admin").get(f"/api/v1/audit?record_type=benefit&record_id={benefit['id']}").json()["items"]
    assert sorted(e["action"] for e in entries) == ["create", "delete", "update"]
    update = next(e for e in entries if e["action"] == "update")
    assert update["changes"] == {"amount": {"old": "25.50", "new": "26.00"}}
