"""Token buckets for per-pool-user rate limits (RFC 5355 threat mitigation).

RSPLIB's ``-maxhrrate`` / ``-maxeurate`` default to unlimited; a negative rate means the
same here.
"""

from __future__ import annotations


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; starts full."""

    __slots__ = ("_burst", "_rate", "_stamp", "_tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._stamp = now

    def take(self, now: float) -> bool:
        """Spend one token if there is one; False means the caller is over its rate."""
        if now > self._stamp:
            self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
            self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


def make_bucket(rate: float, burst: float, now: float) -> TokenBucket | None:
    """A bucket for a positive or zero rate; None (no limit) for a negative one."""
    if rate < 0:
        return None
    return TokenBucket(rate, max(burst, 1.0) if rate > 0 else 0.0, now)
