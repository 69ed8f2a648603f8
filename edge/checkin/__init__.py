"""Check-ins: single-use QR nonces, platform-signed visitor tokens, the LAN endpoint."""
