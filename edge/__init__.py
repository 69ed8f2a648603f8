"""omo-edge: the in-store edge daemon (presence, signage, durable event sync)."""

__version__ = "0.1.0"
PROTOCOL_VERSION = 1
