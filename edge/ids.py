"""Identifiers: UUIDv7 for events and batches (time-ordered, unique forever)."""

from __future__ import annotations

import hashlib

import uuid6


def new_id() -> str:
    """A fresh UUIDv7 string."""
    return str(uuid6.uuid7())


def short_visitor(visitor: str | None) -> str:
    """A short, non-reversible tag for a visitor in logs (logs never name a visitor)."""
    if visitor is None:
        return "anonymous"
    return "v:" + hashlib.sha256(visitor.encode()).hexdigest()[:8]
