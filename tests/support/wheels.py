"""Real wheels of a stand-in omo-edge, for the update and install tests, and their signatures."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

HEALTHY = """
import json, os, sys, time
def main():
    state = sys.argv[1]
    body = {"version": "%(version)s", "pid": os.getpid(), "ts": time.time()}
    with open(os.path.join(state, "running.json"), "w") as f:
        json.dump(body, f)
"""
NEVER_HEALTHY = """
def main():
    pass  # starts, but never puts content on screen
"""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel(folder: Path, version: str, main_source: str, name: str = "omo-edge") -> Path:
    """A real wheel (the wheel spec: dist-info with METADATA, WHEEL, entry points, RECORD)."""
    dist = f"{name.replace('-', '_')}-{version}"
    files = {
        "omo_probe/__init__.py": (main_source % {"version": version}).encode(),
        f"{dist}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        ).encode(),
        f"{dist}.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: omo-edge-tests\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
        f"{dist}.dist-info/entry_points.txt": b"[console_scripts]\nomo-edge = omo_probe:main\n",
    }
    record = [f"{path},sha256={_b64(data)},{len(data)}" for path, data in files.items()]
    record.append(f"{dist}.dist-info/RECORD,,")
    files[f"{dist}.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    path = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for member, data in files.items():
            zf.writestr(member, data)
    return path


def keypair() -> tuple[Ed25519PrivateKey, str]:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return key, base64.b64encode(public).decode()


def sign(key: Ed25519PrivateKey, data: bytes) -> str:
    return base64.b64encode(key.sign(hashlib.sha256(data).digest())).decode()
