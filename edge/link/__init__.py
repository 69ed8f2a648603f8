"""Link: the MQTT 5 session with the central platform (docs/protocol.md)."""
