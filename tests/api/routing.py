"""The application's routes as FastAPI tries them: it keeps included routers whole (a route with
`original_router`), so `app.routes` alone does not list the endpoints inside them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def flat_routes(router: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(full path, route) of every route and mount, in matching order."""
    for route in router.routes:
        if hasattr(route, "original_router"):
            yield from flat_routes(route.original_router, prefix + route.include_context.prefix)
        else:
            yield prefix + route.path, route
