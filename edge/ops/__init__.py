"""What runs off the device, behind the `omo-ops` command: pairing (ops side), fleet ACL,
content publishing, commands, fleet status, and the central ingest (`ingest/`: events into a
database, erasure)."""
