"""When and where the device reconnects: full-jitter exponential backoff over the broker's nodes.

Why full jitter: a broker restart drops a thousand screens at the same instant.
A fixed ladder (1, 2, 4 ... s) brings them all back at the same instants too, so
the broker is hit by a thousand TLS handshakes at once, refuses or times out some,
and they all come again together. Each wait drawn uniformly from 0 to
min(cap, base * 2**n), n being the attempts that failed since the last good
connection, spreads the fleet evenly over the window, and the window grows while
the broker stays away (AWS Architecture Blog, "Exponential Backoff And Jitter").

Where: `[mqtt] hosts` names the nodes of a clustered broker. Each attempt goes to
the next node in the list, and each device starts at a node picked by its id, so
a fleet spreads over the nodes and a dead node costs one attempt, not an outage.
Pure code: the random draw comes in as a function.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

Draw = Callable[[float, float], float]
"""`random.uniform`, or a fixed stand-in in tests."""


def full_jitter_delay(failures: int, base_s: float, cap_s: float, draw: Draw) -> float:
    """Seconds to wait before the next attempt after `failures` failed ones (0: a first retry).

    Uniform over [0, min(cap_s, base_s * 2**failures)]: never above the cap, and its
    window doubles with every failure until it reaches the cap.
    """
    window = cap_s if failures >= 64 else min(cap_s, base_s * 2.0**failures)
    return min(window, max(0.0, draw(0.0, window)))


@dataclass(slots=True)
class ReconnectPlan:
    """Which node to try next and how long to wait first; one per MQTT connection."""

    nodes: Sequence[str]
    client_id: str
    base_s: float = 1.0
    cap_s: float = 30.0
    failures: int = 0
    attempts: int = 0
    _index: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if not self.nodes:
            raise ValueError("a reconnect plan needs at least one broker node")
        # crc32, not hash(): the same device starts at the same node after every restart.
        self._index = zlib.crc32(self.client_id.encode()) % len(self.nodes)

    def next_attempt(self, draw: Draw) -> tuple[str, float]:
        """(node, seconds to wait) for the attempt about to be made.

        The process's first attempt goes at once to the device's own node; every later
        one (after a refusal, a failure or a lost connection) to the next node, after
        a full-jitter wait.
        """
        if self.attempts == 0:
            delay = 0.0
        else:
            self._index = (self._index + 1) % len(self.nodes)
            delay = full_jitter_delay(self.failures, self.base_s, self.cap_s, draw)
            self.failures += 1
        self.attempts += 1
        return self.nodes[self._index], delay

    def connected(self) -> None:
        """The broker accepted us: the next loss starts again from the smallest window."""
        self.failures = 0

    @property
    def node(self) -> str:
        """The node of the latest attempt (for log lines)."""
        return self.nodes[self._index]
