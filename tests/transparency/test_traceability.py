"""Contact traceability: who met whom, when, about what, from the activities."""

from __future__ import annotations

from typing import Any


def _activity(api: Any, who: str = "alice", **fields: Any) -> int:
    r = api(who).post("/api/v1/activities", json=fields)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_traceability_lists_meetings_with_health_professionals_and_establishments(
    api: Any, chu: int, doctor: int
) -> None:
    other = api("alice").post("/api/v1/contacts", json={"last_name": "Dupuis"}).json()["id"]
    meeting = _activity(
        api,
        kind="meeting",
        subject="Présentation du lit",
        contact_id=doctor,
        occurred_at="2026-01-12T09:00:00Z",
    )
    call = _activity(
        api, kind="call", subject="Suivi", organisation_id=chu, occurred_at="2026-01-13T14:30:00Z"
    )
    _activity(api, kind="call", subject="Hors santé", contact_id=other, occurred_at="2026-01-12T10:00:00Z")
    _activity(api, kind="meeting", subject="Trop tôt", contact_id=doctor, occurred_at="2025-12-31T22:59:00Z")

    r = api("alice").get("/api/v1/traceability?from=2026-01-01&to=2026-01-31")
    assert r.status_code == 200, r.text
    rows = r.json()
    assert [(x["activity_id"], x["kind"], x["subject"]) for x in rows] == [
        (meeting, "meeting", "Présentation du lit"),
        (call, "call", "Suivi"),
    ]
    assert rows[0] | {"occurred_at": None} == {
        "activity_id": meeting,
        "occurred_at": None,
        "user": "Alice Test",
        "contact_id": doctor,
        "contact": "Claire Durand",
        "rpps": "10003879623",
        "profession": "physician",
        "organisation_id": chu,  # the professional's establishment
        "establishment": "CHU de Nantes",
        "kind": "meeting",
        "subject": "Présentation du lit",
        "project_id": None,
        "project": "",
    }

    r = api("manager").get("/api/v1/traceability?from=2026-01-01&to=2026-01-31&format=csv")
    assert r.status_code == 200 and r.content.startswith("\ufeff".encode())
    # The manager sees alice's activities (same department).
    assert r.content.decode("utf-8-sig").split("\r\n") == [
        "Date;Utilisateur;Contact;RPPS;Profession;Établissement;Type;Objet;Projet lié",
        "12/01/2026 10:00;Alice Test;Claire Durand;10003879623;Médecin;CHU de Nantes;Réunion;Présentation du lit;",
        "13/01/2026 15:30;Alice Test;;;;CHU de Nantes;Appel;Suivi;",
        "",
    ]
    # An outsider (another department) sees none of them; sales may not export.
    assert api("outsider").get("/api/v1/traceability?from=2026-01-01&to=2026-01-31").json() == []
    assert (
        api("alice").get("/api/v1/traceability?from=2026-01-01&to=2026-01-31&format=csv").status_code == 403
    )
    r = api("alice").get("/api/v1/traceability?from=2026-01-01&to=demain")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "to"
