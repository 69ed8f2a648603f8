"""Writing files so that a power cut leaves either the old or the new one, never half."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

TEMP_PREFIX = ".tmp-"  # a file left by a crash mid-write starts with this


def write_atomic(path: Path, data: bytes | memoryview, mode: int = 0o600) -> None:
    """Replace `path` with `data`: temp file in the same folder, fsync, rename, fsync folder.

    The file is created with `mode` (private by default) before a byte is written,
    so a key is never readable by others, not even for a moment.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def readable_by_others(path: Path) -> bool:
    """True if group or others may read `path` (a private key must not be)."""
    return bool(path.stat().st_mode & 0o077)
