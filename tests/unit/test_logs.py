"""Log lines: journald priorities when stdout is the journal, and never a MAC address.
(A whole replay at debug level is in tests/integration/test_replay_logs.py.)"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path

from edge import logs


def test_journal_lines_carry_the_priority_and_no_time(tmp_path: Path) -> None:
    out = (tmp_path / "journal").open("w+")
    st = os.fstat(out.fileno())
    env = {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
    assert logs.to_journal(out, env) and not logs.to_journal(out, {"JOURNAL_STREAM": "1:2"})
    logs.setup("debug", out, env)
    try:
        log = logging.getLogger("edge.test")
        log.warning("outbox cannot write", extra=logs.kv(reason="disk full", pending=3))
        log.info("seen AA:BB:CC:DD:EE:0F near the door")
        try:
            raise ValueError("bad address 12-34-56-78-9a-bc")
        except ValueError:
            log.exception("failed")
    finally:
        logs.setup("info")
    out.seek(0)
    lines = out.read().splitlines()
    out.close()
    assert lines[0] == '<4>edge.test: outbox cannot write reason="disk full" pending=3'
    assert lines[1] == "<6>edge.test: seen [mac] near the door"
    assert all(line.startswith("<3>") for line in lines[2:])  # traceback lines keep the level
    assert "12-34-56-78-9a-bc" not in "\n".join(lines) and "[mac]" in lines[-1]


def test_terminal_lines_are_redacted_too() -> None:
    out = io.StringIO()
    logs.setup("info", out, {})
    try:
        logging.getLogger("edge.test").warning("address %s", "de:ad:be:ef:00:01")
    finally:
        logs.setup("info")
    assert "de:ad:be:ef:00:01" not in out.getvalue() and "warning: address [mac]" in out.getvalue()
    assert logs.redact("sha 0123456789abcdef0123") == "sha 0123456789abcdef0123"
