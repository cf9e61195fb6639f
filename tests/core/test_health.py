def test_healthz(anon):
    r = anon.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok" and r.json()["database"] == "ok"
    assert r.headers["x-request-id"]
