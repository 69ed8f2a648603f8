"""What a device shows, read as a shopper's phone would: QR codes off its screenshots."""

from __future__ import annotations

import base64
import io
import time
import urllib.parse

import numpy as np
import pygame
import zxingcpp

from edge.sim.central import CentralSim
from tests.support.wait import wait_for


def qr_texts(png: bytes) -> list[str]:
    """The text of every QR code in a PNG."""
    surface = pygame.image.load(io.BytesIO(png), "shot.png")
    pixels = np.asarray(pygame.surfarray.array3d(surface)).swapaxes(0, 1)
    return [code.text for code in zxingcpp.read_barcodes(np.ascontiguousarray(pixels))]


def screen_checkin_nonce(central: CentralSim, device_topic: str, timeout_s: float = 15) -> str:
    """The check-in nonce on the device's screen, read as a shopper's phone would: from the
    QR code in a screenshot (taken with the `screenshot` command). A slide with a code of its
    own sends the check-in card away while it plays, so the shopper waits for the next one.
    A device whose screen is not up yet says so (`ok: false`): the shopper waits for that too."""
    deadline = time.monotonic() + timeout_s
    while True:
        cmd_id = central.command(device_topic, "screenshot")
        if not wait_for(lambda c=cmd_id: c in central.cmd_results, deadline - time.monotonic()):
            raise TimeoutError("no screenshot came back")
        result = central.cmd_results[cmd_id]
        png = base64.b64decode(result["png_b64"]) if result["ok"] else b""
        for text in qr_texts(png) if png else []:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(text).query)
            if "n" in query and "d" in query:
                return query["n"][0]
        if time.monotonic() > deadline:
            raise AssertionError(f"no check-in QR code on the screen ({result.get('detail')})")
        time.sleep(0.5)
