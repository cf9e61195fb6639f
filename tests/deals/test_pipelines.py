"""Pipelines and stages: the invariants (one won, at least one open and one lost stage), ordering,
stage deletion with a target, department-tied pipelines, and who may manage them."""

from __future__ import annotations

from sqlalchemy import select

from carnet.core.audit import AuditEntry
from carnet.core.events import Event
from carnet.deals import pipelines
from carnet.deals.models import DealStageHistory, Pipeline


def _names(pipeline_json: dict) -> list[str]:
    return [s["name"] for s in pipeline_json["stages"]]


def test_default_pipelines_are_created_once(db, pipes):
    assert [s.name for s in pipelines.stages(db, pipes["b2b"].pipeline)] == [
        "Qualification",
        "Découverte",
        "Proposition",
        "Négociation",
        "Gagné",
        "Perdu",
    ]
    assert [(s.kind, s.probability) for s in pipelines.stages(db, pipes["b2b"].pipeline)] == [
        ("open", 10),
        ("open", 25),
        ("open", 50),
        ("open", 75),
        ("won", 100),
        ("lost", 0),
    ]
    sante = pipelines.stages(db, pipes["sante"].pipeline)
    assert [s.name for s in sante] == [
        "Premier contact",
        "Référencement",
        "Essai clinique",
        "Appel d'offres",
        "Négociation",
        "Gagné",
        "Perdu",
    ]
    assert all(s.rotting_days for s in sante if s.kind == "open")
    assert pipes["b2b"].pipeline.is_default and not pipes["sante"].pipeline.is_default
    assert pipelines.ensure_default_pipelines(db) == []
    assert len(db.scalars(select(Pipeline)).all()) == 2


def test_create_pipeline_with_default_stages_in_the_users_language(api):
    admin = api("admin")
    r = admin.post("/api/v1/pipelines", json={"name": "Partenaires"})
    assert r.status_code == 201, r.text
    assert r.headers["etag"] == '"1"'
    assert _names(r.json()) == ["Qualification", "Proposition", "Négociation", "Gagné", "Perdu"]
    assert [s["kind"] for s in r.json()["stages"]] == ["open", "open", "open", "won", "lost"]
    assert admin.get(f"/api/v1/pipelines/{r.json()['id']}").json() == r.json()
    # Names are unique, case-insensitively.
    r = admin.post("/api/v1/pipelines", json={"name": "partenaires"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "name"


def test_create_pipeline_must_keep_the_stage_invariants(api, db):
    admin = api("admin")
    before = len(db.scalars(select(Pipeline)).all())
    for stages, code in (
        ([{"name": "A", "kind": "open"}, {"name": "B", "kind": "lost"}], "needs_one_won_stage"),
        ([{"name": "G", "kind": "won"}, {"name": "P", "kind": "lost"}], "needs_open_stage"),
        ([{"name": "A", "kind": "open"}, {"name": "G", "kind": "won"}], "needs_lost_stage"),
        (
            [
                {"name": "A", "kind": "open"},
                {"name": "G1", "kind": "won"},
                {"name": "G2", "kind": "won"},
                {"name": "P", "kind": "lost"},
            ],
            "needs_one_won_stage",
        ),
    ):
        r = admin.post("/api/v1/pipelines", json={"name": "Invalide", "stages": stages})
        assert r.status_code == 422, r.text
        assert code in [e["code"] for e in r.json()["errors"]]
    r = admin.post(
        "/api/v1/pipelines",
        json={
            "name": "Invalide",
            "stages": [
                {"name": "A", "kind": "maybe", "probability": 120, "color": "red;x", "rotting_days": 0},
                {"name": "a", "kind": "won"},
                {"name": "P", "kind": "lost"},
            ],
        },
    )
    fields = {e["field"] for e in r.json()["errors"]}
    assert {
        "stages.0.kind",
        "stages.0.probability",
        "stages.0.color",
        "stages.0.rotting_days",
        "stages",
    } <= fields
    assert len(db.scalars(select(Pipeline)).all()) == before


def test_cannot_delete_the_won_stage_or_the_last_open_or_lost_stage(api, pipes):
    admin = api("admin")
    pid = pipes["b2b"].id
    for name in ("Gagné", "Perdu"):
        r = admin.delete(f"/api/v1/pipelines/{pid}/stages/{pipes['b2b'].stage(name)}")
        assert r.status_code == 422, r.text
    r = admin.patch(f"/api/v1/pipelines/{pid}/stages/{pipes['b2b'].stage('Perdu')}", json={"kind": "open"})
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "needs_lost_stage"
    r = admin.post(f"/api/v1/pipelines/{pid}/stages", json={"name": "Gagné bis", "kind": "won"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "kind"
    assert _names(admin.get(f"/api/v1/pipelines/{pid}").json()) == [
        "Qualification",
        "Découverte",
        "Proposition",
        "Négociation",
        "Gagné",
        "Perdu",
    ]
    # The last open stage cannot go either.
    r = admin.post(
        "/api/v1/pipelines",
        json={
            "name": "Mini",
            "stages": [
                {"name": "Ouvert", "kind": "open"},
                {"name": "Gagné", "kind": "won"},
                {"name": "Perdu", "kind": "lost"},
            ],
        },
    )
    mini = r.json()
    r = admin.delete(f"/api/v1/pipelines/{mini['id']}/stages/{mini['stages'][0]['id']}")
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "needs_open_stage"


def test_add_rename_reorder_and_delete_stages(api, pipes):
    admin = api("admin")
    pid = pipes["b2b"].id
    r = admin.post(f"/api/v1/pipelines/{pid}/stages", json={"name": "Démonstration", "probability": 40})
    assert r.status_code == 201, r.text
    demo = r.json()
    assert demo["kind"] == "open" and demo["position"] == 4  # after the last open stage
    r = admin.post(f"/api/v1/pipelines/{pid}/stages", json={"name": "Perdu - prix", "kind": "lost"})
    assert r.json()["position"] == 7 and r.json()["probability"] == 0
    r = admin.patch(
        f"/api/v1/pipelines/{pid}/stages/{demo['id']}",
        json={"name": "Démo", "rotting_days": 7, "position": 0},
    )
    assert r.status_code == 200 and r.json()["name"] == "Démo" and r.json()["rotting_days"] == 7
    pipeline = admin.get(f"/api/v1/pipelines/{pid}").json()
    assert _names(pipeline)[:3] == ["Démo", "Qualification", "Découverte"]
    assert [s["position"] for s in pipeline["stages"]] == list(range(8))

    # Reorder the whole pipeline with If-Match.
    ids = [s["id"] for s in pipeline["stages"]]
    new_order = [ids[1], ids[2], ids[0], *ids[3:]]
    r = admin.patch(
        f"/api/v1/pipelines/{pid}",
        json={"stage_ids": new_order},
        headers={"If-Match": f'"{pipeline["version"]}"'},
    )
    assert r.status_code == 200, r.text
    assert [s["id"] for s in r.json()["stages"]] == new_order
    assert r.json()["version"] == pipeline["version"] + 1
    r = admin.patch(
        f"/api/v1/pipelines/{pid}", json={"stage_ids": ids}, headers={"If-Match": f'"{pipeline["version"]}"'}
    )
    assert r.status_code == 412
    r = admin.patch(f"/api/v1/pipelines/{pid}", json={"stage_ids": ids[:-1]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "stage_ids"
    r = admin.patch(f"/api/v1/pipelines/{pid}", json={"stage_ids": [*ids[:-1], ids[0]]})
    assert r.status_code == 422
    assert [s["id"] for s in admin.get(f"/api/v1/pipelines/{pid}").json()["stages"]] == new_order

    # An empty stage is deleted without a target.
    assert admin.delete(f"/api/v1/pipelines/{pid}/stages/{demo['id']}").status_code == 204
    assert "Démo" not in _names(admin.get(f"/api/v1/pipelines/{pid}").json())


def test_deleting_a_stage_with_deals_needs_a_target_of_the_same_kind(api, db, pipes, make_deal):
    admin = api("admin")
    b2b = pipes["b2b"]
    deal = make_deal(stage_id=b2b.stage("Découverte"))
    url = f"/api/v1/pipelines/{b2b.id}/stages/{b2b.stage('Découverte')}"
    r = admin.delete(url)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "target_stage_id"
    r = admin.delete(url, params={"target_stage_id": b2b.stage("Perdu")})
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "kind_mismatch"
    r = admin.delete(url, params={"target_stage_id": pipes["sante"].stage("Référencement")})
    assert r.status_code == 422
    assert api("alice").get(f"/api/v1/deals/{deal['id']}").json()["stage_id"] == b2b.stage("Découverte")

    r = admin.delete(url, params={"target_stage_id": b2b.stage("Proposition")})
    assert r.status_code == 204, r.text
    moved = api("alice").get(f"/api/v1/deals/{deal['id']}").json()
    assert moved["stage_id"] == b2b.stage("Proposition")
    assert moved["status"] == "open" and moved["probability"] == 50
    stays = db.scalars(select(DealStageHistory).where(DealStageHistory.deal_id == deal["id"])).all()
    assert [(s.stage_id, s.left_at is None) for s in stays] == [(b2b.stage("Proposition"), True)]
    event = db.scalars(
        select(Event).where(Event.record_id == deal["id"], Event.type == "deal.stage_changed")
    ).one()
    assert event.payload["from_stage_name"] == "Découverte"
    assert event.payload["to_stage_name"] == "Proposition"


def test_delete_pipeline_only_when_empty(api, db, pipes, make_deal):
    admin = api("admin")
    deal = make_deal(pipeline_id=pipes["sante"].id)
    r = admin.delete(f"/api/v1/pipelines/{pipes['sante'].id}")
    assert r.status_code == 409 and r.json()["code"] == "pipeline_not_empty"
    assert admin.get(f"/api/v1/pipelines/{pipes['sante'].id}").status_code == 200
    assert api("alice").delete(f"/api/v1/deals/{deal['id']}").status_code == 204
    r = admin.delete(f"/api/v1/pipelines/{pipes['sante'].id}", headers={"If-Match": '"1"'})
    assert r.status_code == 204
    assert admin.get(f"/api/v1/pipelines/{pipes['sante'].id}").status_code == 404
    actions = db.scalars(
        select(AuditEntry.action).where(
            AuditEntry.record_type == "pipeline", AuditEntry.record_id == pipes["sante"].id
        )
    ).all()
    assert actions[-1] == "delete"


def test_only_pipeline_managers_change_pipelines(api, pipes):
    pid = pipes["b2b"].id
    for who in ("alice", "manager", "reader"):
        client = api(who)
        assert client.get(f"/api/v1/pipelines/{pid}").status_code == 200
        assert client.post("/api/v1/pipelines", json={"name": "Nope"}).status_code == 403
        assert client.patch(f"/api/v1/pipelines/{pid}", json={"name": "Nope"}).status_code == 403
        assert client.post(f"/api/v1/pipelines/{pid}/stages", json={"name": "Nope"}).status_code == 403
        stage = pipes["b2b"].stage("Qualification")
        assert client.patch(f"/api/v1/pipelines/{pid}/stages/{stage}", json={"name": "x"}).status_code == 403
        assert client.delete(f"/api/v1/pipelines/{pid}/stages/{stage}").status_code == 403
        assert client.delete(f"/api/v1/pipelines/{pid}").status_code == 403
    assert api("admin").get(f"/api/v1/pipelines/{pid}").json()["name"] == "Ventes B2B"


def test_department_tied_pipeline_is_only_for_that_department(api, personas, pipes):
    commercial = personas["_departments"]["commercial"]
    r = api("admin").post("/api/v1/pipelines", json={"name": "Grands comptes", "department_id": commercial})
    assert r.status_code == 201, r.text
    tied = r.json()
    alice, outsider = api("alice"), api("outsider")
    assert tied["id"] in [p["id"] for p in alice.get("/api/v1/pipelines").json()["items"]]
    assert tied["id"] not in [p["id"] for p in outsider.get("/api/v1/pipelines").json()["items"]]
    assert outsider.get(f"/api/v1/pipelines/{tied['id']}").status_code == 404
    assert outsider.get(f"/api/v1/pipelines/{tied['id']}/board").status_code == 404

    r = outsider.post("/api/v1/deals", json={"title": "Essai", "pipeline_id": tied["id"]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "pipeline_id"
    r = outsider.post("/api/v1/deals", json={"title": "Essai", "stage_id": tied["stages"][0]["id"]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "stage_id"
    # Moving a deal of theirs into it is refused too.
    mine = outsider.post("/api/v1/deals", json={"title": "À moi", "pipeline_id": pipes["b2b"].id}).json()
    r = outsider.post(f"/api/v1/deals/{mine['id']}/move", json={"stage_id": tied["stages"][1]["id"]})
    assert r.status_code == 422
    assert outsider.get(f"/api/v1/deals/{mine['id']}").json()["pipeline_id"] == pipes["b2b"].id

    r = alice.post("/api/v1/deals", json={"title": "Compte clé", "pipeline_id": tied["id"]})
    assert r.status_code == 201 and r.json()["stage_id"] == tied["stages"][0]["id"]
    assert alice.get(f"/api/v1/pipelines/{tied['id']}/board").json()["count"] == 1


def test_changing_a_stage_probability_carries_the_deals_that_followed_it(api, pipes, make_deal):
    admin = api("admin")
    b2b = pipes["b2b"]
    following = make_deal(stage_id=b2b.stage("Proposition"))
    manual = make_deal(stage_id=b2b.stage("Proposition"), probability=65)
    r = admin.patch(f"/api/v1/pipelines/{b2b.id}/stages/{b2b.stage('Proposition')}", json={"probability": 55})
    assert r.status_code == 200
    alice = api("alice")
    assert alice.get(f"/api/v1/deals/{following['id']}").json()["probability"] == 55
    assert alice.get(f"/api/v1/deals/{manual['id']}").json()["probability"] == 65


def test_a_stage_holding_deals_keeps_its_kind(api, pipes, make_deal):
    admin = api("admin")
    b2b = pipes["b2b"]
    r = admin.post(f"/api/v1/pipelines/{b2b.id}/stages", json={"name": "Perdu - prix", "kind": "lost"})
    extra = r.json()
    make_deal(stage_id=extra["id"], lost_reason="Trop cher")
    r = admin.patch(f"/api/v1/pipelines/{b2b.id}/stages/{extra['id']}", json={"kind": "open"})
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "stage_not_empty"
    assert admin.get(f"/api/v1/pipelines/{b2b.id}").json()["stages"][-1]["kind"] == "lost"


def test_pipeline_bad_inputs_never_500(api, pipes):
    admin = api("admin")
    pid = pipes["b2b"].id
    for payload in (
        {},
        {"name": ""},
        {"name": "x" * 300},
        {"name": "ok", "department_id": 999999},
        {"name": "ok", "stages": "nope"},
        {"name": "ok", "stages": [{"name": "A", "probability": "high"}]},
        {"name": "ok", "unknown": 1},
    ):
        r = admin.post("/api/v1/pipelines", json=payload)
        assert r.status_code == 422, (payload, r.status_code, r.text)
    assert admin.get("/api/v1/pipelines/999999").status_code == 404
    assert admin.get("/api/v1/pipelines/abc").status_code == 422
    assert admin.patch(f"/api/v1/pipelines/{pid}/stages/999999", json={"name": "x"}).status_code == 404
    other_stage = pipes["sante"].stage("Référencement")
    assert admin.patch(f"/api/v1/pipelines/{pid}/stages/{other_stage}", json={"name": "x"}).status_code == 404
    assert admin.patch(f"/api/v1/pipelines/{pid}", json={"stage_ids": ["a"]}).status_code == 422
    assert (
        admin.patch(f"/api/v1/pipelines/{pid}", headers={"If-Match": '"abc"'}, json={"name": "x"}).status_code
        == 412
    )
