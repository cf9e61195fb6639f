"""The import wizard in the browser: file, mapping, preview, run, progress, report, undo."""

from __future__ import annotations

import re

from import_helpers import csv_bytes

ROWS = [
    ["Nom de l'entreprise", "SIREN", "Ville"],
    ["Société Générale", "552120222", "Paris"],
    ["Mauvais SIREN", "732829321", "Lyon"],
    ["Boulangerie Martin", "", "Lyon"],
]


def _job_id(response) -> int:
    assert response.status_code == 303, response.text
    return int(re.search(r"/imports/(\d+)", response.headers["location"]).group(1))


def test_wizard_end_to_end(web, api):
    alice = web("alice")
    headers = {"X-CSRF-Token": alice.csrf}
    page = alice.get("/imports")
    assert page.status_code == 200
    assert 'data-testid="import-upload"' in page.text
    assert '<option value="organisation">' in page.text

    r = alice.post(
        "/imports",
        files={"file": ("societes.csv", csv_bytes(ROWS), "text/csv")},
        data={"record_type": "organisation"},
        headers=headers,
        follow_redirects=False,
    )
    job_id = _job_id(r)

    mapping = alice.get(f"/imports/{job_id}")
    assert 'data-testid="import-mapping"' in mapping.text
    assert re.search(r'name="map-0".*?<option value="name" selected>', mapping.text, re.S)
    assert re.search(r'name="map-2".*?<option value="city" selected>', mapping.text, re.S)
    assert "552120222 · 732829321" in mapping.text  # sample values help choosing

    r = alice.post(
        f"/imports/{job_id}/mapping",
        data={
            "map-0": "name",
            "map-1": "siren",
            "map-2": "city",
            "duplicate_mode": "skip",
            "match_keys": ["siren"],
        },
        headers=headers,
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/imports/{job_id}/preview"

    preview = alice.get(f"/imports/{job_id}/preview")
    assert preview.status_code == 200
    assert preview.text.count('class="report-error"') == 2  # the bad row and its message
    assert 'data-testid="import-run"' in preview.text
    assert api("alice").get("/api/v1/organisations").json()["items"] == []

    r = alice.post(f"/imports/{job_id}/run", headers=headers, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/imports/{job_id}"

    progress = alice.get(f"/imports/{job_id}/progress", headers={"HX-Request": "true"})
    assert progress.status_code == 204 and progress.headers["hx-redirect"] == f"/imports/{job_id}"

    report = alice.get(f"/imports/{job_id}")
    assert 'data-testid="import-undo"' in report.text
    assert re.search(r'<td class="num">3</td><td>SIREN</td>', report.text)
    assert f'href="/imports/{job_id}/report.csv"' in report.text
    csv_report = alice.get(f"/imports/{job_id}/report.csv")
    assert csv_report.text.splitlines()[1].startswith("3;SIREN: ")

    listing = alice.get("/imports").text
    assert f'href="/imports/{job_id}">societes.csv</a>' in listing

    r = alice.post(f"/imports/{job_id}/undo", headers=headers, follow_redirects=False)
    assert r.status_code == 303
    assert api("alice").get("/api/v1/organisations").json()["items"] == []
    assert 'data-testid="import-undo"' not in alice.get(f"/imports/{job_id}").text


def test_mapping_errors_are_shown_next_to_the_columns(web):
    alice = web("alice")
    headers = {"X-CSRF-Token": alice.csrf}
    job_id = _job_id(
        alice.post(
            "/imports",
            files={"file": ("societes.csv", csv_bytes(ROWS), "text/csv")},
            data={"record_type": "organisation"},
            headers=headers,
            follow_redirects=False,
        )
    )
    r = alice.post(
        f"/imports/{job_id}/mapping",
        data={"map-0": "", "map-1": "siren", "map-2": "siren", "duplicate_mode": "skip"},
        headers=headers,
    )
    assert r.status_code == 422
    assert r.text.count('class="field-error"') == 2  # name unmapped; SIREN twice
    assert re.search(r'name="map-2".*?<option value="siren" selected>', r.text, re.S)


def test_progress_fragment_while_running(web, api, db):
    from carnet.imports.models import ImportJob

    alice = web("alice")
    job_id = _job_id(
        alice.post(
            "/imports",
            files={"file": ("societes.csv", csv_bytes(ROWS), "text/csv")},
            data={"record_type": "organisation"},
            headers={"X-CSRF-Token": alice.csrf},
            follow_redirects=False,
        )
    )
    from carnet.core import clock

    job = db.get(ImportJob, job_id)
    job.status, job.processed, job.heartbeat_at = "running", 2, clock.now()
    db.commit()
    page = alice.get(f"/imports/{job_id}")
    assert 'hx-trigger="every 1s"' in page.text
    fragment = alice.get(f"/imports/{job_id}/progress", headers={"HX-Request": "true"}).text
    assert fragment.lstrip().startswith('<div id="import-progress"')
    assert 'style="width:66%"' in fragment
    assert 'data-testid="import-resume"' not in fragment


def test_a_stale_run_offers_to_resume(web, db):
    from datetime import timedelta

    from carnet.core import clock
    from carnet.imports.models import ImportJob

    alice = web("alice")
    headers = {"X-CSRF-Token": alice.csrf}
    job_id = _job_id(
        alice.post(
            "/imports",
            files={"file": ("societes.csv", csv_bytes(ROWS), "text/csv")},
            data={"record_type": "organisation"},
            headers=headers,
            follow_redirects=False,
        )
    )
    alice.post(
        f"/imports/{job_id}/mapping", data={"map-0": "name", "duplicate_mode": "skip"}, headers=headers
    )
    job = db.get(ImportJob, job_id)
    job.status, job.heartbeat_at = "running", clock.now() - timedelta(hours=1)  # the server died
    db.commit()
    assert 'data-testid="import-resume"' in alice.get(f"/imports/{job_id}").text
    r = alice.post(f"/imports/{job_id}/run", headers=headers, follow_redirects=False)
    assert r.status_code == 303
    db.expire_all()
    assert (db.get(ImportJob, job_id).status, db.get(ImportJob, job_id).created) == ("done", 3)


def test_upload_errors_and_permissions(web):
    alice = web("alice")
    r = alice.post(
        "/imports",
        files={"file": ("vide.csv", b"", "text/csv")},
        data={"record_type": "organisation"},
        headers={"X-CSRF-Token": alice.csrf},
    )
    assert r.status_code == 422 and 'class="field-error"' in r.text
    reader = web("reader")
    page = reader.get("/imports")
    assert page.status_code == 200 and 'data-testid="import-upload"' not in page.text
    assert "Votre rôle ne permet pas d&#39;importer des fiches." in page.text
    r = reader.post(
        "/imports",
        files={"file": ("a.csv", csv_bytes(ROWS), "text/csv")},
        data={"record_type": "organisation"},
        headers={"X-CSRF-Token": reader.csrf},
    )
    assert r.status_code == 403
    other = web("bob")
    assert other.get("/imports/999999").status_code == 404
