"""The HTTP client of webhook deliveries: httpx, 10 s timeout, no redirects followed, and a
transport that refuses private, loopback, link-local, multicast and reserved addresses at
connection time (on the address it actually connects to), so a host name that resolves to an
internal address, or changes to one after the URL was saved, is refused too."""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from typing import Any

import httpx

from carnet.settings import get_settings

TIMEOUT_SECONDS = 10.0
EXCERPT_BYTES = 4096
USER_AGENT = "Carnet-Webhooks/1.0"


class TargetRefused(Exception):
    """The target address is not allowed (SSRF guard)."""


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def address_allowed(ip: IPAddress) -> bool:
    """Public unicast addresses only. IPv4-mapped and 6to4/Teredo IPv6 forms are judged by the
    IPv4 address they carry."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d is the IPv4 address itself
            return address_allowed(ip.ipv4_mapped)
        embedded = ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None and not address_allowed(embedded):
            return False
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def private_targets_allowed() -> bool:
    return get_settings().webhook_allow_private_targets


def resolve_checked(host: str, port: int) -> str:
    """The address to connect to for `host`, after checking every address it resolves to."""
    literal = literal_address(host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise httpx.ConnectError(f"cannot resolve {host}: {exc}") from exc
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        raise httpx.ConnectError(f"cannot resolve {host}")
    if not private_targets_allowed():
        refused = [str(a) for a in addresses if not address_allowed(a)]
        if refused:
            raise TargetRefused(f"{host} resolves to a non-public address ({refused[0]})")
    return str(addresses[0])


class GuardedTransport(httpx.BaseTransport):
    """Resolves the host itself, checks the address, then connects to that very address with the
    original Host header and TLS server name (SNI and certificate checks use the host name)."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport(retries=0)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise TargetRefused("only http and https targets are allowed")
        host = url.host
        port = url.port or (443 if url.scheme == "https" else 80)
        ip = resolve_checked(host, port)
        if literal_address(host) is None:
            request.url = url.copy_with(host=ip)
            if url.scheme == "https":
                request.extensions = {**request.extensions, "sni_hostname": host}
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


_client: httpx.Client | None = None


def client() -> httpx.Client:
    """One pooled client per process (connections are reused between deliveries)."""
    global _client
    if _client is None:
        _client = httpx.Client(
            transport=GuardedTransport(),
            timeout=httpx.Timeout(TIMEOUT_SECONDS),
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )
    return _client


@dataclass
class PostResult:
    status_code: int | None
    duration_ms: int
    excerpt: str | None = None
    error: str | None = None
    retry_after: str | None = None
    refused: bool = False  # SSRF guard: never retried
    timed_out: bool = False


def post(url: str, body: bytes, headers: dict[str, str]) -> PostResult:
    started = time.perf_counter()

    def elapsed() -> int:
        return int((time.perf_counter() - started) * 1000)

    try:
        with client().stream("POST", url, content=body, headers=headers) as response:
            excerpt = _read_excerpt(response)
            return PostResult(
                response.status_code, elapsed(), excerpt, retry_after=response.headers.get("retry-after")
            )
    except TargetRefused as exc:
        return PostResult(None, elapsed(), error=str(exc)[:500], refused=True)
    except httpx.TimeoutException as exc:
        return PostResult(
            None, elapsed(), error=f"timeout: {exc or type(exc).__name__}"[:500], timed_out=True
        )
    except httpx.HTTPError as exc:
        return PostResult(None, elapsed(), error=f"{type(exc).__name__}: {exc}"[:500])


def _read_excerpt(response: Any) -> str:
    """At most 4 KiB of the body: a huge or endless response is not read further."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= EXCERPT_BYTES:
            break
    return b"".join(chunks)[:EXCERPT_BYTES].decode("utf-8", errors="replace")
