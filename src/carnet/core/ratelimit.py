"""Rate limits with the `limits` package: Redis when CARNET_REDIS_URL is set, in-process otherwise."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter

from carnet.core.errors import RateLimited
from carnet.settings import get_settings


@lru_cache
def _limiter(redis_url: str) -> MovingWindowRateLimiter:
    storage: Storage = RedisStorage(redis_url) if redis_url else MemoryStorage()
    return MovingWindowRateLimiter(storage)


def limiter() -> MovingWindowRateLimiter:
    return _limiter(get_settings().redis_url)


@lru_cache
def _parse(spec: str) -> RateLimitItem | None:
    if spec.strip() in ("", "0"):
        return None
    return parse(spec)


@dataclass
class Allowance:
    limit: int
    remaining: int
    reset_in: int


def hit(spec: str, *key: str) -> Allowance | None:
    """Count one request against `spec` for `key`; raise RateLimited when over. None if unlimited."""
    item = _parse(spec)
    if item is None:
        return None
    lim = limiter()
    allowed = lim.hit(item, *key)
    stats = lim.get_window_stats(item, *key)
    reset_in = max(1, int(stats.reset_time - time.time()))
    allowance = Allowance(item.amount, stats.remaining, reset_in)
    if not allowed:
        raise RateLimited(
            headers={
                "Retry-After": str(reset_in),
                "RateLimit-Limit": str(item.amount),
                "RateLimit-Remaining": "0",
                "RateLimit-Reset": str(reset_in),
            }
        )
    return allowance


def reset() -> None:
    """Forget every counter (tests)."""
    limiter().storage.reset()
