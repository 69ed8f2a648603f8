"""The `reason` codes of `content.rejected` events: stable strings central can count on."""

BAD_SIGNATURE = "bad_signature"  # the signature does not verify with the named key
UNKNOWN_KID = "unknown_kid"  # no public key with that id in the config
WRONG_SCOPE = "wrong_scope"  # for another store or another device
EXPIRED = "expired"  # expires_ts is in the past
STALE_VERSION = "stale_version"  # version not above the current one for the same scope
MALFORMED = "malformed"  # not JSON, missing or wrongly typed fields, bad slide
UNKNOWN_SLIDE_KIND = "unknown_slide_kind"  # a slide kind this device cannot show
MISSING_ASSET = "missing_asset"  # a slide names an asset the manifest does not list
BAD_ASSET_NAME = "bad_asset_name"  # an asset name that looks like a path
ASSET_HASH_MISMATCH = "asset_hash_mismatch"  # bytes do not hash to the announced sha256
ASSET_TOO_LARGE = "asset_too_large"  # over [content] max_asset_bytes
IMAGE_TOO_LARGE = "image_too_large"  # over [content] max_image_pixels (decompression bomb)
UNREADABLE_ASSET = "unreadable_asset"  # not a decodable image or video
UNSUPPORTED_GLYPH = "unsupported_glyph"  # a text needs characters the screen's font lacks
UNFITTABLE_CODE = "unfittable_code"  # a code or price too wide at the smallest text size

ALL = (
    BAD_SIGNATURE,
    UNKNOWN_KID,
    WRONG_SCOPE,
    EXPIRED,
    STALE_VERSION,
    MALFORMED,
    UNKNOWN_SLIDE_KIND,
    MISSING_ASSET,
    BAD_ASSET_NAME,
    ASSET_HASH_MISMATCH,
    ASSET_TOO_LARGE,
    IMAGE_TOO_LARGE,
    UNREADABLE_ASSET,
    UNSUPPORTED_GLYPH,
    UNFITTABLE_CODE,
)
