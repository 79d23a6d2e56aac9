"""Per-user rate limits: a small token bucket per (what, owner), kept in this process's memory.

`check_chat_rate(owner)` is called where a chat turn starts (UI, CLI and API all go through `ChatEngine.turn`):
each owner may send `chat_burst` turns back to back, then `chat_rate_per_minute` turns a minute. Over the limit it
raises `InputError` with how long to wait, before anything is stored. One server process serves the UI and the
API, so in-memory buckets see every request; a restart refills them (no state worth keeping).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from assistant.config import Settings, get_settings
from assistant.llm.base import InputError


class RateLimited(InputError):
    """Over a per-user rate: the API answers 429, the UI shows the message."""

_MAX_BUCKETS = 10_000  # owners remembered at once; the fullest (idle) ones are dropped first


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBucket:
    """`capacity` tokens, refilled at `rate_per_s`; `take()` returns 0 when a token was taken, else seconds to wait."""

    def __init__(self, capacity: float, rate_per_s: float, clock=time.monotonic) -> None:  # noqa: ANN001
        self.capacity = float(capacity)
        self.rate = float(rate_per_s)
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()  # "rate-limits": guards _buckets

    def take(self, key: str, cost: float = 1.0) -> float:
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= _MAX_BUCKETS:
                    self._forget_idle(now)
                bucket = self._buckets[key] = _Bucket(self.capacity, now)
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            if bucket.tokens >= cost:
                bucket.tokens -= cost
                return 0.0
            return (cost - bucket.tokens) / self.rate if self.rate > 0 else math.inf

    def _forget_idle(self, now: float) -> None:
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.updated) * self.rate >= self.capacity]
        for key in full or list(self._buckets)[: len(self._buckets) // 2]:
            del self._buckets[key]


_limiters: dict[tuple, TokenBucket] = {}
_limiters_lock = threading.Lock()  # guards _limiters


def _chat_limiter(settings: Settings) -> TokenBucket:
    key = ("chat", settings.chat_burst, settings.chat_rate_per_minute)
    with _limiters_lock:
        if key not in _limiters:
            _limiters[key] = TokenBucket(settings.chat_burst, settings.chat_rate_per_minute / 60.0)
        return _limiters[key]


def check_chat_rate(owner: str, settings: Settings | None = None) -> None:
    """Count one chat turn for `owner`; raise InputError (nothing stored yet) when over the per-user rate."""
    settings = settings or get_settings()
    if settings.chat_rate_per_minute <= 0:
        return
    wait = _chat_limiter(settings).take(str(owner))
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise RateLimited(
            f"too many messages: at most {settings.chat_rate_per_minute:g} a minute per user "
            f"(bursts of {settings.chat_burst}); try again in {seconds} s"
        )


def reset() -> None:
    """Forget every bucket (tests)."""
    with _limiters_lock:
        _limiters.clear()
