"""What every doctor check reports: a `Finding` (OK, WARN or FAIL) in plain words.

Kept apart from the checks so each topic module, and the tests, share one type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["OK", "WARN", "FAIL"]

TIMEOUT_S = 5.0  # the longest any reader waits for the bus, the broker or BlueZ


@dataclass(frozen=True, slots=True)
class Finding:
    status: Status
    check: str
    found: str
    todo: str = ""

    def line(self) -> str:
        text = f"{self.status:<4}  {self.check:<10} {self.found}"
        return f"{text}. What to do: {self.todo}" if self.todo else text
