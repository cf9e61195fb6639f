"""The order of the routes: FastAPI tries them one after the other, so the JSON routes come first,
and the order must never change which route answers a request."""

from __future__ import annotations

import re

from starlette.routing import Mount, compile_path

from tests.api.routing import flat_routes


def _routes(router) -> list[tuple[str, re.Pattern]]:
    """(path, regex) of every route in matching order."""
    return [
        (path, re.compile(f"^{path}/") if isinstance(route, Mount) else compile_path(path)[0])
        for path, route in flat_routes(router)
    ]


def _paths(app) -> list[str]:
    return [path for path, _ in _routes(app.router)]


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_api_routes_come_before_the_html_routes(app):
    paths = _paths(app)
    api = [i for i, path in enumerate(paths) if path.startswith("/api/v1/")]
    html = [
        i
        for i, path in enumerate(paths)
        if not path.startswith("/api/") and path not in ("/login", "/login/2fa", "/logout")
    ]
    assert len(api) > 300 and len(html) > 200
    first_html = min(i for i in html if i > 10)  # after the shell's login and language routes
    assert max(api) < first_html, [paths[i] for i in api if i > first_html][:5]
    # The shared record routes sit beside their domain's: a contact's timeline is found early.
    assert paths.index("/api/v1/contacts/{record_id}/timeline") < 100


def test_no_html_route_can_answer_an_api_path(app):
    """What makes the order safe: no route outside /api/ matches a path under /api/."""
    routes = _routes(app.router)
    api_paths = {_concrete(path) for path, _ in routes if path.startswith("/api/")}
    for path, regex in routes:
        if not path.startswith("/api/"):
            assert not any(regex.match(api_path) for api_path in api_paths), path
