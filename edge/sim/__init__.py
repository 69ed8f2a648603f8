"""Simulated surroundings for demos, tests and benchmarks: replayed beacons, a local
Mosquitto, a central platform that speaks docs/protocol.md, and a fleet of simulated screens
built from the device's own outbox, sync and link (`fleet.py`, `fleet_device.py`)."""
