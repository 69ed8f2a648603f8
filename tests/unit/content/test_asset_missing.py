"""Central answers an asset request "not found" (`P/asset/missing`): the manifest that needs
it is refused with `missing_asset`, what plays keeps playing, and the device stops asking
(docs/protocol.md, "P/asset/{sha256} and P/asset/missing")."""

from __future__ import annotations

import base64
import hashlib
import time
from datetime import UTC, datetime
from pathlib import Path

from nacl.signing import SigningKey

from edge.content import reasons
from edge.content.assets import AssetStore
from edge.content.manager import ASSET_RETRY_S, ContentManager
from edge.content.manifest import Manifest, sign
from edge.errors import ContentRejected
from tests.support import fuzz_targets as ft

SEED = base64.b64encode(bytes(range(32))).decode()
PUBLIC = base64.b64encode(bytes(SigningKey(bytes(range(32))).verify_key)).decode()


def test_an_asset_central_does_not_have_refuses_the_manifest_and_is_not_asked_again(
    tmp_path: Path,
) -> None:
    asked: list[str] = []
    refused: list[ContentRejected] = []
    went_live: list[int] = []
    playing: list[list[str]] = []

    def live(_scope: str, manifest: Manifest, _digest: str) -> None:
        went_live.append(manifest.version)

    manager = ContentManager(
        tmp_path / "content",
        AssetStore(
            tmp_path / "assets", max_bytes=10**8, max_asset_bytes=10**7, max_image_pixels=10**7
        ),
        public_keys={"k1": PUBLIC},
        store_id=ft.STORE_ID,
        device_id=ft.DEVICE_ID,
        clock_synced=lambda: True,
        on_rejected=refused.append,
        request_asset=asked.append,
        on_content=lambda slides, _resolve: playing.append([s.id for s in slides]),
        on_live=live,
    )
    now = int(time.time() * 1000)
    manager.receive_manifest("store", sign(ft.manifest_doc(version=1), SEED, "k1"), now)
    assert went_live == [1]

    withheld = ft.PNG + b"central never had this"
    sha = hashlib.sha256(withheld).hexdigest()
    manager.receive_manifest(
        "store", sign(ft.manifest_doc(version=2, asset=withheld), SEED, "k1"), now
    )
    assert asked == [sha]

    manager.asset_missing(sha, "not in the content store")
    [rejection] = refused
    assert rejection.reason == reasons.MISSING_ASSET
    assert rejection.manifest_version == 2 and rejection.scope == "store"
    assert "not in the content store" in rejection.detail

    for minutes in (1, 10, 60):  # long past the retry interval: nobody asks again
        manager.tick(time.monotonic() + minutes * 60 + ASSET_RETRY_S)
    assert asked == [sha]
    assert went_live == [1]
    manager.evaluate(datetime.now(UTC))
    assert playing[-1] == ["t1"]  # version 1's slide, not version 2's image
