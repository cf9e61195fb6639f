"""The HTTP client of the timed loop: one keep-alive connection on `http.client`.

The load generator shares the machine with the server, so every millisecond of CPU it spends is
taken from the server and shows up as latency. Measured on a 2-core machine against `carnet serve`
(a contact list page of 50): httpx 1.7 ms of client CPU per request, `http.client` 0.85 ms. Setup
requests keep using httpx; only the measured requests go through this client, which offers the
small part of httpx's interface the scenarios' operations use.
"""

from __future__ import annotations

import http.client
import json as jsonlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

# The server closed an idle keep-alive connection before our request reached it: no response was
# read, so sending it again on a fresh connection is safe (what browsers and httpx do too).
_STALE_CONNECTION = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class Response(Protocol):
    status_code: int

    @property
    def is_success(self) -> bool: ...

    @property
    def text(self) -> str: ...

    @property
    def request(self) -> Any: ...

    def json(self) -> Any: ...


class Http(Protocol):
    """What an operation may call: httpx.Client and KeepAliveClient both offer it."""

    def get(self, url: str, *, params: Mapping[str, Any] | None = None) -> Any: ...

    def post(self, url: str, *, json: Any = None) -> Any: ...

    def patch(self, url: str, *, json: Any = None) -> Any: ...


@dataclass
class LoopResponse:
    status_code: int
    content: bytes
    method: str
    path: str

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    @property
    def request(self) -> SimpleNamespace:
        return SimpleNamespace(method=self.method, url=SimpleNamespace(path=self.path))

    def json(self) -> Any:
        return jsonlib.loads(self.content)


class KeepAliveClient:
    def __init__(self, base_url: str, headers: Mapping[str, str], timeout: float = 30.0) -> None:
        url = urlsplit(base_url)
        if url.scheme != "http" or not url.hostname:
            raise ValueError(f"the load client speaks plain HTTP to a local server, not {base_url!r}")
        self.host, self.port, self.prefix = url.hostname, url.port or 80, url.path.rstrip("/")
        self.headers, self.timeout = dict(headers), timeout
        self.connection: http.client.HTTPConnection | None = None

    def get(self, url: str, *, params: Mapping[str, Any] | None = None) -> LoopResponse:
        return self.request("GET", url, params=params)

    def post(self, url: str, *, json: Any = None) -> LoopResponse:
        return self.request("POST", url, json=json)

    def patch(self, url: str, *, json: Any = None) -> LoopResponse:
        return self.request("PATCH", url, json=json)

    def request(
        self, method: str, url: str, *, params: Mapping[str, Any] | None = None, json: Any = None
    ) -> LoopResponse:
        path = self.prefix + url
        target = f"{path}?{urlencode(params)}" if params else path
        headers, body = self.headers, None
        if json is not None:
            body = jsonlib.dumps(json).encode()
            headers = {**headers, "Content-Type": "application/json"}
        for attempt in (1, 2):
            reused = self.connection is not None
            connection = self.connection or http.client.HTTPConnection(
                self.host, self.port, timeout=self.timeout
            )
            self.connection = connection
            try:
                connection.request(method, target, body=body, headers=headers)
                answer = connection.getresponse()
                content = answer.read()
            except _STALE_CONNECTION:
                self.close()
                if reused and attempt == 1:
                    continue
                raise
            except BaseException:
                self.close()
                raise
            if answer.will_close:
                self.close()
            return LoopResponse(answer.status, content, method, path)
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None
