"""The OpenAPI document describes every resource the issue lists, and the docs page is served."""

from __future__ import annotations

from tests.api.routing import flat_routes


def test_openapi_lists_every_resource(anon):
    r = anon.get("/api/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    for resource in (
        "organisations",
        "contacts",
        "deals",
        "pipelines",
        "activities",
        "tasks",
        "departments",
        "users",
        "roles",
        "custom-fields",
        "tags",
    ):
        assert f"/api/v1/{resource}" in paths, resource
    for path in ("/api/v1/search", "/api/v1/me", "/api/v1/organisations/{org_id}", "/api/v1/imports"):
        assert path in paths, path
    assert anon.get("/api/docs").status_code == 200


def test_every_api_route_requires_authentication(app, anon):
    """Deny by default: apart from the health check and the docs, nothing answers without a token."""
    from fastapi.routing import APIRoute

    # Inbound workflow hooks are called by outside services: the secret in their URL is the
    # credential, and an unknown one answers 404 (tests/workflows cover them).
    public = {"/api/v1/workflows/hooks/{token}"}
    checked = 0
    for full_path, route in flat_routes(app.router):
        if not isinstance(route, APIRoute) or not full_path.startswith("/api/v1") or full_path in public:
            continue
        checked += 1
        path = full_path
        for name in route.param_convertors:
            path = path.replace("{" + name + "}", "1")
        for method in route.methods - {"HEAD", "OPTIONS"}:
            r = anon.request(method, path)
            assert r.status_code in (401, 422), (method, full_path, r.status_code)
    assert checked > 200  # every domain's routes, not an empty loop
