"""Simulated surroundings for demos, tests and benchmarks: replayed beacons, a local
Mosquitto, and a central platform that speaks docs/protocol.md."""
