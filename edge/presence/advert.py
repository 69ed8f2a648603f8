"""The one shape every advert source (bleak, replay) hands to the pipeline."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Advert:
    """One advertisement report, as bleak's AdvertisementData plus time and address.

    `t` is in the source's own clock (seconds): trace time for a replay,
    monotonic time for a live scanner. `address` is never stored or logged.
    """

    t: float
    address: str
    rssi: int
    tx_power: int | None = None
    local_name: str | None = None
    service_uuids: tuple[str, ...] = ()
    manufacturer_data: Mapping[int, bytes] = field(default_factory=dict)
    service_data: Mapping[str, bytes] = field(default_factory=dict)


class AdvertSource(Protocol):
    """Where adverts come from. `now()` is the same clock as `Advert.t`."""

    def now(self) -> float: ...

    def health(self) -> Mapping[str, int | float | str]:
        """Counters and state for `device.health` (adverts seen, drops, restarts, ...)."""
        ...

    def adverts(self) -> AsyncIterator[Advert]:
        """Yield adverts until the source ends (a replay) or is cancelled (a scanner)."""
        ...
