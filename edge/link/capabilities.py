"""What this device can do, as it says in `P/state`: central sends nothing it cannot show.

`omo-ops content publish` reads them and refuses to send a manifest with a slide
kind some device in scope does not list.
"""

from __future__ import annotations

from edge.content.slides import KINDS
from edge.link.schemas.central import COMMAND_NAMES

FEATURES = (
    "events",  # P/events batches, acknowledged on P/events/ack
    "decide",  # MQTT 5 request/response on P/decide, P/decision
    "beacon",  # BLE presence
    "checkin",  # check-ins via central (P/checkin)
    "checkin-lan",  # check-ins on the store LAN with platform-signed tokens
    "offers",  # manifest `offers` for offline check-ins
    "asset-missing",  # P/asset/missing is understood
    "content-live",  # content.live events and live versions in P/state
    "asset-connection",  # assets come on a connection of their own
    "approach",  # approach.* events (fast trigger); visit.enter carries `since`
    "cert-renewal",  # asks for its next client certificate on P/csr (P/cert answers)
    "config-remote",  # takes signed config overlays on P/config and S/config
)


def capabilities() -> list[str]:
    """Features, `slide:{kind}` for each slide kind, `cmd:{name}` for each command."""
    return [*FEATURES, *(f"slide:{k}" for k in KINDS), *(f"cmd:{c}" for c in COMMAND_NAMES)]
