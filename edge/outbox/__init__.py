"""Outbox: every event in SQLite first; it leaves only when central acknowledged its batch."""
