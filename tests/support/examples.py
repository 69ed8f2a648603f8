"""How hard the property tests search.

Each property test names the examples it deserves (`examples(300)`); the suite runs a
share of them, `OMO_EXAMPLES_SCALE` (default 0.5), to stay within its time budget.
Search deeper before a release or after touching a decoder:
`OMO_EXAMPLES_SCALE=5 scripts/test -k fuzz`.
"""

from __future__ import annotations

import os

SCALE = float(os.environ.get("OMO_EXAMPLES_SCALE", "0.5"))


def examples(wanted: int) -> int:
    """The number of examples to try this run: `wanted` scaled, never fewer than 10."""
    return max(10, round(wanted * SCALE))
