"""The one error `omo-ops` tools raise on purpose: exit 2 with its message, never a traceback."""

from __future__ import annotations

from edge.errors import EdgeError


class OpsError(EdgeError):
    """A tool cannot do what it was asked; the message says why and what to do."""
