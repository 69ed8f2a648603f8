"""The content-addressed asset cache: checks before disk, atomic writes, LRU eviction."""

from __future__ import annotations

import errno
import hashlib
import os
import struct
import zlib
from pathlib import Path

import pytest

from edge.content import reasons
from edge.content.assets import AssetStore, image_size
from edge.errors import ContentRejected
from tests.support.disk import fill


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def store(folder: Path, max_bytes: int = 10_000_000) -> AssetStore:
    return AssetStore(
        folder, max_bytes=max_bytes, max_asset_bytes=1_000_000, max_image_pixels=4_000_000
    )


def rejected(assets: AssetStore, key: str, data: bytes) -> ContentRejected:
    with pytest.raises(ContentRejected) as info:
        assets.put(key, data)
    assert info.value.sha256 == key[:100]
    return info.value


def png(width: int, height: int) -> bytes:
    """A hand-made PNG: valid signature, IHDR with these dimensions, a tiny IDAT, IEND."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1024))
        + chunk(b"IEND", b"")
    )


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_put_stores_under_the_hash(tmp_path: Path) -> None:
    assets = store(tmp_path / "assets")
    data = b"some video bytes"
    path = assets.put(sha(data), data)
    assert path == tmp_path / "assets" / sha(data)
    assert path.read_bytes() == data
    assert assets.path(sha(data)) == path
    assert assets.verify(sha(data))
    assert assets.missing([sha(data), "0" * 64, sha(data)]) == ["0" * 64]
    assert files(tmp_path / "assets") == [sha(data)]


def test_hash_mismatch_is_refused_and_not_written(tmp_path: Path) -> None:
    assets = store(tmp_path)
    exc = rejected(assets, sha(b"announced"), b"delivered")
    assert exc.reason == reasons.ASSET_HASH_MISMATCH
    assert files(tmp_path) == []


def test_oversized_asset_is_refused(tmp_path: Path) -> None:
    assets = store(tmp_path)
    data = b"x" * 1_000_001
    assert rejected(assets, sha(data), data).reason == reasons.ASSET_TOO_LARGE
    assert assets.put(sha(data[:-1]), data[:-1]).stat().st_size == 1_000_000


@pytest.mark.parametrize(
    "bad", ["../../etc/passwd", "/etc/passwd", "AB" * 32, "ab" * 31, "ab" * 33, "", "a" * 500]
)
def test_a_sha_that_is_not_64_lowercase_hex_is_never_a_path(tmp_path: Path, bad: str) -> None:
    assets = store(tmp_path / "assets")
    exc = rejected(assets, bad, b"data")
    assert exc.reason == reasons.BAD_ASSET_NAME
    assert assets.path(bad) is None
    assert assets.verify(bad) is False
    assert assets.missing([bad]) == [bad]
    assets.touch(bad)
    assert files(tmp_path) == ["assets"]
    assert files(tmp_path / "assets") == []


def test_decompression_bomb_is_refused_from_its_header(tmp_path: Path) -> None:
    bomb = png(50_000, 50_000)  # 2.5 gigapixels declared in a few hundred bytes
    assert len(bomb) < 200
    assert image_size(bomb) == (50_000, 50_000)
    assets = store(tmp_path)
    exc = rejected(assets, sha(bomb), bomb)
    assert exc.reason == reasons.IMAGE_TOO_LARGE
    assert "50000x50000" in exc.detail
    assert files(tmp_path) == []
    fine = png(2000, 2000)
    assert assets.put(sha(fine), fine).read_bytes() == fine


def test_real_png_and_jpeg_sizes(tmp_path: Path) -> None:
    pygame = pytest.importorskip("pygame")
    surface = pygame.Surface((321, 123))
    surface.fill((200, 30, 40))
    for suffix in ("png", "jpg"):
        path = tmp_path / f"image.{suffix}"
        pygame.image.save(surface, str(path))
        assert image_size(path.read_bytes()) == (321, 123), suffix


def jpeg(width: int, height: int, sof: int = 0xC0) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"
    frame = b"\xff" + bytes([sof]) + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\0"
    return b"\xff\xd8" + app0 + b"\xff\xff" + frame + b"\xff\xda\0\x08"


def webp(chunk: bytes, body: bytes) -> bytes:
    inner = b"WEBP" + chunk + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", len(inner)) + inner


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (jpeg(640, 480), (640, 480)),
        (jpeg(60_000, 60_000, sof=0xC2), (60_000, 60_000)),  # progressive
        (b"GIF89a" + struct.pack("<HH", 65_535, 65_535) + b"\xf7\0\0", (65_535, 65_535)),
        (b"GIF87a" + struct.pack("<HH", 10, 20) + b"\0\0\0", (10, 20)),
        (webp(b"VP8 ", b"\0\0\0\x9d\x01\x2a" + struct.pack("<HH", 1920, 1080)), (1920, 1080)),
        (webp(b"VP8L", b"\x2f" + ((1919) | (1079 << 14)).to_bytes(4, "little")), (1920, 1080)),
        (webp(b"VP8X", b"\0" * 4 + (16383).to_bytes(3, "little") * 2), (16384, 16384)),
        (b"\0\0\0\x20ftypisom", None),  # a video: no pixel check here
        (b"plain text", None),
    ],
)
def test_header_sizes(data: bytes, size: tuple[int, int] | None) -> None:
    assert image_size(data) == size


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n",
        png(0, 10),
        b"\xff\xd8\xff\xe0\0\x10JFIF",
        b"\xff\xd8\xff\xda\0\x08",  # scan before any frame header
        b"GIF89a\x01",
        b"RIFF\0\0\0\0WEBPVP8 ",
        webp(b"VP8 ", b"\0" * 10),
    ],
)
def test_unreadable_image_header_is_refused(tmp_path: Path, data: bytes) -> None:
    assert rejected(store(tmp_path), sha(data), data).reason == reasons.UNREADABLE_ASSET


def test_a_write_cut_short_by_a_full_disk_leaves_no_partial_file(small_disk: Path) -> None:
    """A real 4 MiB tmpfs, nearly full: the asset does not fit, and nothing half-written
    stays behind to be mistaken for it; once there is room it is stored whole."""
    assets = store(small_disk)
    data = os.urandom(900_000)
    filler = fill(small_disk)
    with pytest.raises(OSError) as err:
        assets.put(sha(data), data)
    assert err.value.errno == errno.ENOSPC
    assert files(small_disk) == ["filler"]
    assert assets.missing([sha(data)]) == [sha(data)]
    filler.unlink()
    assets.put(sha(data), data)
    assert assets.verify(sha(data))


def test_temp_files_left_by_a_crash_are_removed_at_start(tmp_path: Path) -> None:
    (tmp_path / ".tmp-abc123").write_bytes(b"half an asset")
    keep = b"whole"
    (tmp_path / sha(keep)).write_bytes(keep)
    store(tmp_path)
    assert files(tmp_path) == [sha(keep)]


def test_verify_rehashes_and_drops_a_corrupt_file(tmp_path: Path) -> None:
    assets = store(tmp_path)
    data = b"good bytes"
    path = assets.put(sha(data), data)
    path.write_bytes(b"bit rot")
    assert assets.path(sha(data)) == path  # reading trusts the name
    assert not assets.verify(sha(data))
    assert assets.missing([sha(data)]) == [sha(data)]


def test_eviction_keeps_referenced_and_removes_least_recently_used(tmp_path: Path) -> None:
    assets = store(tmp_path, max_bytes=300)
    blobs = [bytes([i]) * 100 for i in range(4)]
    keys = [sha(b) for b in blobs]
    for age, (key, blob) in enumerate(zip(keys, blobs, strict=True)):
        os.utime(assets.put(key, blob), (1000 + age, 1000 + age))  # 0 oldest .. 3 newest
    assert assets.path(keys[0]) is not None  # a use: 0 becomes the newest
    removed = assets.evict(keep={keys[1]})
    assert removed == [keys[2]]
    assert assets.missing(keys) == [keys[2]]
    assert assets.evict(keep=set()) == []  # 300 bytes: within budget
    new = b"n" * 100
    assets.put(sha(new), new)
    assert assets.evict(keep={keys[1]}) == [keys[3]]  # the least recent not kept
    assert assets.missing([*keys, sha(new)]) == [keys[2], keys[3]]


def test_eviction_never_removes_kept_assets_even_over_budget(tmp_path: Path) -> None:
    assets = store(tmp_path, max_bytes=10)
    keys = [sha(assets.put(sha(b), b).read_bytes()) for b in (b"a" * 20, b"b" * 20)]
    (tmp_path / "notes.txt").write_text("not an asset")
    assert assets.evict(keep=set(keys)) == []
    assert assets.missing(keys) == []
    assert (tmp_path / "notes.txt").exists()
