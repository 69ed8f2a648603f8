"""The device's identity: an id made once, and a key pair that never leaves the device.

The id is `omo-` and 16 lowercase base32 characters (80 random bits): safe in MQTT
topics and as a certificate CN, far under mDNS's 63-byte label, and never derived
from a MAC address (which would be personal data of the kind we do not keep).
Both live in the state dir (the only writable place under the service's
hardening); a `device_id` in the config wins over the made one (developer setups).
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path

from edge.errors import EdgeError
from edge.files import write_atomic
from edge.provision import pki

log = logging.getLogger(__name__)

ID_FILE = "identity.json"
KEY_FILE = "device.key"


def new_device_id() -> str:
    return "omo-" + base64.b32encode(secrets.token_bytes(10)).decode().lower()


@dataclass(frozen=True)
class Identity:
    device_id: str
    key: pki.PrivateKey

    def csr(self) -> bytes:
        return pki.make_csr(self.key, self.device_id)


def _made_id(id_file: Path) -> str:
    try:
        return str(json.loads(id_file.read_text())["device_id"])
    except FileNotFoundError:
        return ""
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EdgeError(
            f"{id_file} is unreadable ({exc}); `omo-edge factory-reset` starts afresh"
        ) from exc


def load_or_create(state_dir: Path, configured_id: str = "") -> Identity:
    """This device's identity, made on first use; `configured_id` (the config's) wins."""
    id_file, key_file = state_dir / ID_FILE, state_dir / KEY_FILE
    device_id = configured_id or _made_id(id_file)
    if not device_id:
        device_id = new_device_id()
        write_atomic(id_file, json.dumps({"device_id": device_id}).encode(), 0o644)
        log.info("made this device's id: %s", device_id)
    try:
        key = pki.load_key(key_file.read_bytes())
    except FileNotFoundError:
        key = pki.new_key()
        write_atomic(key_file, pki.key_pem(key))
        log.info("made this device's key pair (%s, private, never leaves the device)", key_file)
    return Identity(device_id, key)
