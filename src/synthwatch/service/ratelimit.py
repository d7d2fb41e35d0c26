"""Per-key rate limits: a token bucket per API key in the API process.

``limit`` requests a minute, refilled continuously, up to ``burst`` at once. A refused request gets
429 with ``Retry-After`` (whole seconds until a token is back). Every answer carries
``RateLimit-Limit`` and ``RateLimit-Remaining``. The buckets live in the API process: run one API
process per database (``synthwatch serve`` does), or put the limit in the proxy in front.
"""

from __future__ import annotations

import math
import threading
import time

__all__ = ["RateLimiter"]


class RateLimiter:
    def __init__(self, per_minute: int, burst: int) -> None:
        self.per_minute = per_minute
        self.burst = burst
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, per_minute: int | None = None) -> tuple[bool, float, int, int]:
        """(allowed, retry_after_s, remaining, limit) for one request by ``key``."""
        rate = (per_minute or self.per_minute) / 60.0
        burst = float(min(self.burst, per_minute or self.per_minute) if per_minute else self.burst)
        at = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (burst, at))
            tokens = min(burst, tokens + (at - last) * rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, at)
                return True, 0.0, int(tokens - 1.0), int(per_minute or self.per_minute)
            self._buckets[key] = (tokens, at)
            return False, (1.0 - tokens) / rate, 0, int(per_minute or self.per_minute)

    @staticmethod
    def retry_after_header(seconds: float) -> str:
        return str(max(1, math.ceil(seconds)))
