"""The register's pages: list with warnings, forms with field errors, export, thresholds."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text


def test_register_page_shows_rows_and_warnings(web: Any, doctor: int, make_benefit: Any) -> None:
    make_benefit(contact_id=doctor, granted_on="2026-01-08", nature="meal", amount="45.00")
    page = web("alice").get("/transparency")
    assert page.status_code == 200
    assert "Registre transparence" in page.text and "Claire Durand" in page.text
    assert "Au-delà de la valeur négligeable : cet avantage nécessite une convention" in page.text
    assert 'data-testid="warning-count"' in page.text


def test_benefit_form_shows_errors_next_to_fields_and_saves(web: Any, api: Any, doctor: int) -> None:
    alice = web("alice")
    assert alice.get("/transparency/benefits/new").status_code == 200
    r = alice.post(
        "/transparency/benefits/new",
        data={
            "csrf_token": alice.csrf,
            "granted_on": "2026-01-08",
            "nature": "meal",
            "amount": "abc",
            "contact_id": str(doctor),
        },
        follow_redirects=False,
    )
    assert r.status_code == 422 and 'data-error-for="amount"' in r.text
    assert api("alice").get("/api/v1/benefits").json()["items"] == []
    r = alice.post(
        "/transparency/benefits/new",
        data={
            "csrf_token": alice.csrf,
            "granted_on": "2026-01-08",
            "nature": "meal",
            "amount": "25,50",
            "contact_id": str(doctor),
            "formality_status": "not_required",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    [benefit] = api("alice").get("/api/v1/benefits").json()["items"]
    assert benefit["amount"] == "25.50"
    page = alice.get(f"/transparency/benefits/{benefit['id']}").text
    assert "25.50 € dans la limite de 30.00 € : valeur négligeable" in page


def test_export_button_downloads_the_csv(web: Any, company: Any, doctor: int, make_benefit: Any) -> None:
    make_benefit(contact_id=doctor, granted_on="2026-01-08", nature="meal", amount="25.50")
    manager = web("manager")
    assert 'data-testid="export"' in manager.get("/transparency").text
    r = manager.get("/transparency/export?from=2026-01-01&to=2026-01-31")
    assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.content.decode("utf-8-sig").count("\r\n") == 2
    assert 'data-testid="export"' not in web("alice").get("/transparency").text


def test_thresholds_page_is_editable_by_admins_only(web: Any) -> None:
    admin = web("admin")
    page = admin.get("/transparency/thresholds").text
    assert 'data-testid="new-threshold"' in page and "JORFTEXT000042234024" in page
    r = admin.post(
        "/transparency/thresholds",
        data={
            "csrf_token": admin.csrf,
            "key": "publication",
            "nature": "any",
            "amount": "12",
            "valid_from": "2027-01-01",
            "source": "",
        },
        follow_redirects=False,
    )
    assert r.status_code == 422 and 'data-error-for="source"' in r.text
    assert 'data-testid="new-threshold"' not in web("manager").get("/transparency/thresholds").text


def test_reports_and_traceability_pages(web: Any, chu: int, doctor: int, make_benefit: Any) -> None:
    make_benefit(contact_id=doctor, granted_on="2026-01-08", nature="meal", amount="25.50")
    alice = web("alice")
    page = alice.get(f"/transparency/report?contact_id={doctor}").text
    assert "Claire Durand" in page and "10003879623" in page
    page = alice.get(f"/transparency/report?organisation_id={chu}").text
    assert "Professionnels de cet établissement" in page and "Claire Durand" in page
    assert alice.get("/transparency/traceability?from=2026-01-01&to=2026-01-31").status_code == 200


def test_export_without_a_period_shows_the_error_next_to_the_field(web: Any) -> None:
    r = web("manager").get("/transparency/export?from=2026-01-01&to=")
    assert r.status_code == 422 and 'data-error-for="to"' in r.text
    r = web("manager").get("/transparency/traceability.csv?from=&to=2026-01-31")
    assert r.status_code == 422 and 'data-error-for="from"' in r.text


def test_benefit_form_offers_the_visible_projects_and_picks_organisations_by_search(
    web: Any, db: Any, chu: int
) -> None:
    from datetime import date

    from carnet.projects.models import Project, ProjectTemplate, ProjectTemplateVersion

    template = db.query(ProjectTemplate).filter_by(name="Centre Hospitalier").one()  # shipped (0062)
    version_id = db.query(ProjectTemplateVersion.id).filter_by(template_id=template.id).scalar()
    owner = db.execute(text("SELECT id, department_id FROM users WHERE email LIKE 'alice%'")).first()
    outsider = db.execute(text("SELECT id, department_id FROM users WHERE email LIKE 'outsider%'")).first()
    for name, user in (("Projet de l'équipe", owner), ("Projet d'un autre pôle", outsider)):
        db.add(
            Project(
                name=name,
                organisation_id=chu,
                template_id=template.id,
                template_version_id=version_id,
                start_date=date(2026, 1, 5),
                owner_id=user.id,
                department_id=user.department_id,
                custom_fields={},
            )
        )
    db.commit()
    page = web("alice").get("/transparency/benefits/new")
    assert page.status_code == 200
    assert "Projet de l&#39;équipe" in page.text and "Projet d&#39;un autre pôle" not in page.text
    assert 'data-record-picker="organisation"' in page.text
