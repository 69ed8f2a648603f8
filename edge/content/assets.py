"""Content-addressed asset cache: files named by their SHA-256, written atomically, evicted LRU.

The file name is always the 64-hex hash, never the asset's name, so nothing a
manifest says can become a path. Bytes are checked before they touch the
disk, and image sizes are read from the header alone, so a decompression bomb
is refused before any decoder sees it. Recency is the file's mtime (atime is
usually off on an SD card).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import time
from collections.abc import Iterable
from pathlib import Path

from edge.content import reasons
from edge.content.manifest import is_sha256
from edge.errors import ContentRejected
from edge.files import TEMP_PREFIX, write_atomic

_TOUCH_EVERY_S = 60  # mtime resolution needed for LRU; fewer metadata writes on flash
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(data: bytes | memoryview) -> tuple[int, int] | None:
    """(width, height) from the first SOFn frame header; None if there is none."""
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # no length field
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker in _JPEG_SOF:
            if length < 7 or pos + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        if marker in (0xD9, 0xDA) or length < 2:  # end of image, start of scan: too late
            return None
        pos += 2 + length
    return None


def _webp_size(chunk: bytes | memoryview, body: bytes | memoryview) -> tuple[int, int] | None:
    """(width, height) from the first chunk: lossy, lossless or extended (canvas size)."""
    if chunk == b"VP8 " and len(body) >= 10 and body[3:6] == b"\x9d\x01\x2a":
        w, h = struct.unpack("<HH", body[6:10])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L" and len(body) >= 5 and body[0] == 0x2F:
        bits = int.from_bytes(body[1:5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(body) >= 10:
        return int.from_bytes(body[4:7], "little") + 1, int.from_bytes(body[7:10], "little") + 1
    return None


def image_size(data: bytes | memoryview) -> tuple[int, int] | None:
    """(width, height) of a PNG, JPEG, GIF or WebP from its header alone, None if not one.

    ValueError if the magic bytes say image but the header cannot be read.
    """
    size: tuple[int, int] | None
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        kind = "PNG"
        ok = len(data) >= 24 and data[12:16] == b"IHDR"
        size = struct.unpack(">II", data[16:24]) if ok else None
    elif data[:3] == b"\xff\xd8\xff":
        kind = "JPEG"
        size = _jpeg_size(data)
    elif data[:6] in (b"GIF87a", b"GIF89a"):
        kind = "GIF"
        size = struct.unpack("<HH", data[6:10]) if len(data) >= 10 else None
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        kind = "WebP"
        size = _webp_size(data[12:16], data[20:30])
    else:
        return None
    if size is None or 0 in size:
        raise ValueError(f"{kind} header is truncated or malformed")
    return size


class AssetStore:
    """Asset files in `folder`, at most `max_bytes` in all after `evict`."""

    def __init__(
        self, folder: Path, *, max_bytes: int, max_asset_bytes: int, max_image_pixels: int
    ) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.max_asset_bytes = max_asset_bytes
        self.max_image_pixels = max_image_pixels
        folder.mkdir(parents=True, exist_ok=True)
        for leftover in folder.glob(TEMP_PREFIX + "*"):  # from a crash mid-write
            leftover.unlink(missing_ok=True)

    def _file(self, sha256: str) -> Path | None:
        return self.folder / sha256 if is_sha256(sha256) else None

    def put(self, sha256: str, data: bytes | memoryview) -> Path:
        """Check `data` against its announced hash and the limits, then store it atomically."""

        def reject(reason: str, detail: str) -> ContentRejected:
            return ContentRejected(reason, detail, sha256=sha256[:100])

        target = self._file(sha256)
        if target is None:
            raise reject(reasons.BAD_ASSET_NAME, f"{sha256[:100]!r} is not 64 lowercase hex")
        if len(data) > self.max_asset_bytes:
            raise reject(reasons.ASSET_TOO_LARGE, f"{len(data)} bytes, over {self.max_asset_bytes}")
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise reject(reasons.ASSET_HASH_MISMATCH, f"bytes hash to {actual}")
        try:
            size = image_size(data)
        except ValueError as exc:
            raise reject(reasons.UNREADABLE_ASSET, str(exc)) from exc
        if size is not None and size[0] * size[1] > self.max_image_pixels:
            raise reject(
                reasons.IMAGE_TOO_LARGE,
                f"{size[0]}x{size[1]} pixels, over {self.max_image_pixels}",
            )
        write_atomic(target, data)  # whole or absent, even after a power cut
        return target

    def path(self, sha256: str) -> Path | None:
        """The stored file, or None; marks it used for LRU."""
        file = self._file(sha256)
        if file is None or not file.is_file():
            return None
        if time.time() - file.stat().st_mtime > _TOUCH_EVERY_S:
            self.touch(sha256)
        return file

    def touch(self, sha256: str) -> None:
        """Mark an asset as just used, so eviction takes it last."""
        file = self._file(sha256)
        if file is not None:
            with contextlib.suppress(FileNotFoundError):  # evicted meanwhile
                os.utime(file)

    def verify(self, sha256: str) -> bool:
        """Re-hash the stored file; a corrupt file is deleted so it is fetched again."""
        file = self._file(sha256)
        if file is None:
            return False
        digest = hashlib.sha256()
        try:
            with file.open("rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
        except FileNotFoundError:
            return False
        if digest.hexdigest() == sha256:
            return True
        file.unlink(missing_ok=True)
        return False

    def missing(self, shas: Iterable[str]) -> list[str]:
        """Those of `shas` not stored (each once, in the order given)."""
        return [sha for sha in dict.fromkeys(shas) if not self._stored(sha)]

    def _stored(self, sha256: str) -> bool:
        file = self._file(sha256)
        return file is not None and file.is_file()

    def evict(self, keep: set[str]) -> list[str]:
        """Delete least recently used assets not in `keep` until the total fits max_bytes."""
        files = []
        for file in self.folder.iterdir():
            if is_sha256(file.name):
                try:
                    st = file.stat()
                except FileNotFoundError:
                    continue
                files.append((st.st_mtime_ns, file.name, st.st_size))
        total = sum(size for _, _, size in files)
        removed = []
        for _, name, size in sorted(files):
            if total <= self.max_bytes:
                break
            if name not in keep:
                (self.folder / name).unlink(missing_ok=True)
                removed.append(name)
                total -= size
        return removed
