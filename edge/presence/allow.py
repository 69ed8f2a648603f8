"""Which beacons count as visitors: the store's own iBeacon UUIDs, Eddystone namespaces
and LINE hardware ids. An empty set allows every beacon of that kind.

AltBeacon and Eddystone-EID beacons are never filtered: AltBeacon has no
agreed organisation field, and an EID hides its namespace by design.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

from edge.errors import EdgeError
from edge.presence.formats import (
    EDDYSTONE_NAMESPACE_SLICE,
    EDDYSTONE_UID,
    IBEACON,
    IBEACON_UUID_SLICE,
    LINE,
    LINE_HWID_SLICE,
    LINE_IBEACON_UUID,
    Beacon,
)

_HEX: Final = frozenset("0123456789abcdef")
_UUID_DASHES: Final = (8, 13, 18, 23)


class InvalidAllowEntry(EdgeError, ValueError):
    """One allow-list entry is not what its list holds; names the list, the entry and why."""

    def __init__(self, list_name: str, entry: object, allowed: str) -> None:
        self.list_name = list_name
        self.entry = entry
        self.allowed = allowed
        super().__init__(f"{list_name}: {entry!r} is not allowed; expected {allowed}")


def _is_hex(text: str, digits: int) -> bool:
    return len(text) == digits and set(text) <= _HEX


def normalise_uuid(entry: object) -> str:
    """`entry` as a lowercase UUID with dashes; InvalidAllowEntry if it is not a UUID."""
    allowed = "a UUID: 32 hex digits, with or without dashes in the 8-4-4-4-12 places"
    if not isinstance(entry, str):
        raise InvalidAllowEntry("ibeacon_uuids", entry, allowed)
    text = entry.strip().lower()
    if len(text) == 36 and all(text[i] == "-" for i in _UUID_DASHES):
        text = text.replace("-", "")
    if not _is_hex(text, 32):
        raise InvalidAllowEntry("ibeacon_uuids", entry, allowed)
    uuid = f"{text[0:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:32]}"
    if uuid == LINE_IBEACON_UUID:
        raise InvalidAllowEntry(
            "ibeacon_uuids",
            entry,
            "not LINE's fixed iBeacon UUID, which never names a visitor "
            "(allow LINE beacons by hardware id instead)",
        )
    return uuid


def normalise_hex(entry: object, list_name: str, digits: int) -> str:
    """`entry` as `digits` lowercase hex digits; InvalidAllowEntry if it is not that."""
    allowed = f"{digits} hex digits"
    if not isinstance(entry, str):
        raise InvalidAllowEntry(list_name, entry, allowed)
    text = entry.strip().lower()
    if not _is_hex(text, digits):
        raise InvalidAllowEntry(list_name, entry, allowed)
    return text


def _namespace(entry: object) -> str:
    return normalise_hex(entry, "eddystone_namespaces", 20)


def _hwid(entry: object) -> str:
    return normalise_hex(entry, "line_hwids", 10)


def _entries(list_name: str, value: object, normalise: Callable[[object], str]) -> frozenset[str]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidAllowEntry(list_name, value, "a list of strings")
    return frozenset(normalise(entry) for entry in value)


@dataclass(frozen=True, slots=True)
class AllowList:
    """Normalised on construction (lowercase; UUIDs with dashes, hex without)."""

    ibeacon_uuids: frozenset[str] = field(default_factory=frozenset)
    eddystone_namespaces: frozenset[str] = field(default_factory=frozenset)
    line_hwids: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "ibeacon_uuids", _entries("ibeacon_uuids", self.ibeacon_uuids, normalise_uuid))
        set_(
            self,
            "eddystone_namespaces",
            _entries("eddystone_namespaces", self.eddystone_namespaces, _namespace),
        )
        set_(self, "line_hwids", _entries("line_hwids", self.line_hwids, _hwid))

    @classmethod
    def from_lists(
        cls,
        ibeacon_uuids: Iterable[str] = (),
        eddystone_namespaces: Iterable[str] = (),
        line_hwids: Iterable[str] = (),
    ) -> AllowList:
        """From config lists; InvalidAllowEntry (a ValueError) names the first bad entry."""
        return cls(
            _entries("ibeacon_uuids", ibeacon_uuids, normalise_uuid),
            _entries("eddystone_namespaces", eddystone_namespaces, _namespace),
            _entries("line_hwids", line_hwids, _hwid),
        )

    @property
    def allows_all(self) -> bool:
        return not (self.ibeacon_uuids or self.eddystone_namespaces or self.line_hwids)

    def permits(self, beacon: Beacon) -> bool:
        """Whether `beacon` counts as a visitor under this list."""
        kind = beacon.kind
        if kind == IBEACON:
            allowed = self.ibeacon_uuids
            return not allowed or beacon.identity[IBEACON_UUID_SLICE] in allowed
        if kind == EDDYSTONE_UID:
            allowed = self.eddystone_namespaces
            return not allowed or beacon.identity[EDDYSTONE_NAMESPACE_SLICE] in allowed
        if kind == LINE:
            allowed = self.line_hwids
            return not allowed or beacon.identity[LINE_HWID_SLICE] in allowed
        return True


ALLOW_ALL: Final = AllowList()
