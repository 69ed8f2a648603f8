"""Where things are in the repository, for tests at any depth under tests/."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEMO_TRACE = ROOT / "edge" / "sim" / "traces" / "demo.jsonl"
SIGNAGE_CONTENT = ROOT / "signage_content"
