"""Helpers for JSON routes: list pages, ETags and If-Match."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from fastapi import Request, Response
from pydantic import BaseModel

from carnet.core.errors import PreconditionFailed
from carnet.core.listing import ListParams, parse_params

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def list_params(request: Request, default_sort: str = "-id") -> ListParams:
    return parse_params(dict(request.query_params), default_sort=default_sort)


def etag_of(version: int) -> str:
    return f'"{version}"'


def set_etag(response: Response, obj: Any) -> None:
    response.headers["ETag"] = etag_of(obj.version)


def if_match_version(request: Request) -> int | None:
    """The version an If-Match header asks for (None when absent)."""
    header = request.headers.get("if-match")
    if not header or header.strip() == "*":
        return None
    value = header.strip().removeprefix("W/").strip('"')
    try:
        return int(value)
    except ValueError:
        raise PreconditionFailed()


def body_dict(model: BaseModel) -> dict[str, Any]:
    """Only the fields the client actually sent (PATCH semantics)."""
    return model.model_dump(exclude_unset=True)
