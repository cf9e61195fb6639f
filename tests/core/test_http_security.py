"""What every HTTP response carries (security headers, no caching of private pages), the health
check when the database is gone, and GET requests that never change anything."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet.accounts import service as accounts
from carnet.accounts.models import User
from carnet.core import attachments
from carnet.core import db as core_db
from carnet.settings import get_settings


def _responses(web, api, anon):  # type: ignore[no-untyped-def]
    alice_web, alice_api = web("alice"), api("alice")
    return {
        "home page": alice_web.get("/", follow_redirects=False),
        "web list": alice_web.get("/organisations", follow_redirects=False),
        "missing page": alice_web.get("/nowhere", follow_redirects=False),
        "API list": alice_api.get("/api/v1/organisations"),
        "API without credentials": anon.get("/api/v1/organisations"),
        "login page": anon.get("/login"),
        "redirect to login": anon.get("/organisations", follow_redirects=False),
    }


def test_security_headers_on_pages_api_and_errors(web, api, anon):
    responses = _responses(web, api, anon)
    assert responses["API without credentials"].status_code == 401
    assert responses["missing page"].status_code == 404
    for name, response in responses.items():
        headers = response.headers
        assert headers["x-content-type-options"] == "nosniff", name
        assert headers["x-frame-options"] == "DENY", name
        assert "frame-ancestors 'none'" in headers["content-security-policy"], name
        assert "default-src 'self'" in headers["content-security-policy"], name
        assert headers["referrer-policy"] == "same-origin", name
        assert len(headers["x-request-id"]) == 32, name
        assert "strict-transport-security" not in headers, name  # plain http: HSTS would be ignored


def test_hsts_when_the_public_address_is_https(web, api, anon, monkeypatch):
    monkeypatch.setenv("CARNET_BASE_URL", "https://crm.example.fr")
    get_settings.cache_clear()
    login = TestClient(anon.app, base_url="https://testserver").get("/login")
    api_list = api("alice").get("/api/v1/organisations")
    for response in (login, api_list):
        assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"


def test_private_responses_are_not_cached(web, api, anon):
    responses = _responses(web, api, anon)
    for name in ("home page", "web list", "API list"):
        assert responses[name].headers["cache-control"] == "no-store", name
    static = anon.get("/static/css/app.css")
    assert static.status_code == 200 and "no-store" not in static.headers.get("cache-control", "")


@pytest.mark.parametrize(
    "url", ["sqlite:////nonexistent-folder/carnet.db", "postgresql+psycopg://carnet@127.0.0.1:1/carnet"]
)
def test_healthz_reports_an_unreachable_database_with_503(anon, url):
    unreachable = core_db.Database(url)
    unreachable.url = get_settings().database_url  # so get_database() keeps it for this process
    core_db.set_database(unreachable)
    try:
        response = anon.get("/healthz")
    finally:
        core_db.dispose_engines(url)
    assert response.status_code == 503
    assert response.json() == {"status": "degraded", "version": "0.1.0", "database": "unavailable"}


# -- GET never changes state ------------------------------------------------------------------------

# Bookkeeping a GET may move: when a session or token was last used (it slides the idle timeout).
BOOKKEEPING = {("user_sessions", "last_seen_at"), ("api_tokens", "last_used_at")}


def _snapshot(db) -> dict[str, list[str]]:
    from carnet.models import metadata

    db.expire_all()
    out = {}
    for table in metadata.sorted_tables:
        columns = [c for c in table.c if (table.name, c.name) not in BOOKKEEPING]
        out[table.name] = sorted(repr(tuple(row)) for row in db.execute(select(*columns)))
    return out


def _get_routes(routes: list, prefix: str = "") -> Iterator[tuple[str, APIRoute]]:  # type: ignore[type-arg]
    """(full path, route) of every GET route, including those of included routers (recent FastAPI
    versions keep them in `_IncludedRouter` entries instead of copying them into `app.routes`)."""
    for route in routes:
        if isinstance(route, APIRoute):
            if "GET" in route.methods:
                yield prefix + route.path, route
        elif getattr(route, "original_router", None) is not None:
            yield from _get_routes(route.original_router.routes, prefix + route.include_context.prefix)


def _fill(path: str, route: APIRoute, ids: dict[str, int]) -> str:
    values = {}
    for name in route.param_convertors:
        if name == "record_type":
            values[name] = "organisation"
        elif name == "code":
            values[name] = "en"
        else:
            values[name] = str(ids.get(name, ids["record_id"]))
    return path.format(**values)


def test_no_web_page_changes_anything_on_get(app, web, db, personas):
    from carnet.organisations import service as organisations

    admin = accounts.actor_for(db.get(User, personas["admin"].id))
    org = organisations.create_organisation(db, admin, {"name": "Lecture Seule SA", "city": "Lyon"})
    att = attachments.store(db, admin, "organisation", org.id, "note.txt", b"bonjour")
    db.commit()
    ids = {"record_id": org.id, "attachment_id": att.id}
    client = web("admin")
    before = _snapshot(db)

    statuses = {}
    for template, route in _get_routes(app.routes):
        if template.startswith("/api") or template.endswith("/stream"):
            continue  # JSON routes have their own tests; an event stream never ends by itself
        path = _fill(template, route, ids)
        response = client.get(path, follow_redirects=False)
        statuses[template] = response.status_code
        assert response.status_code < 500, (path, response.text[:500])
        assert _snapshot(db) == before, f"GET {path} changed the database"

    assert statuses["/"] == 200
    assert statuses["/organisations"] == 200
    assert statuses["/organisations/{org_id}"] == 200
    assert statuses["/organisations/{org_id}/edit"] == 200
    assert statuses["/records/{record_type}/{record_id}/attachments/{attachment_id}"] == 200
