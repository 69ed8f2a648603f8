"""What one client may make the LAN check-in endpoint do: sizes, times, rates, connections.

Pure (the rate limiter takes `now`), so the limits are tested without a socket.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LanLimits:
    """Sizes, times and rates that bound what one client can make the endpoint do."""

    max_head_bytes: int = 8192
    max_body_bytes: int = 8192
    head_timeout_s: float = 5.0  # from accepting the connection to the end of the head
    body_timeout_s: float = 5.0
    callback_timeout_s: float = 5.0
    linger_s: float = 1.0  # reading what a refused client still sends, so it sees the answer
    rate_per_s: float = 5.0  # requests per client address...
    burst: int = 5  # ...with this many at once
    max_connections: int = 64
    max_per_client: int = 4  # open connections from one address
    max_clients_tracked: int = 1024


class RateLimiter:
    """A token bucket per client (pure: `now` passed in); memory bounded by `max_clients`."""

    def __init__(self, rate_per_s: float, burst: int, max_clients: int = 1024) -> None:
        if rate_per_s <= 0 or burst < 1 or max_clients < 1:
            raise ValueError("rate_per_s must be positive, burst and max_clients at least 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, at); LRU order

    def allow(self, client: str, now: float) -> bool:
        tokens, at = self._buckets.pop(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + max(0.0, now - at) * self.rate_per_s)
        allowed = tokens >= 1.0
        self._buckets[client] = (tokens - 1.0 if allowed else tokens, now)
        while len(self._buckets) > self.max_clients:
            del self._buckets[next(iter(self._buckets))]  # the least recently seen
        return allowed

    def __len__(self) -> int:
        return len(self._buckets)
