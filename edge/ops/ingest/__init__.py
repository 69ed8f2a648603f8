"""`omo-ops ingest` and `omo-ops purge`: central's event store, fed by every device's `P/events`.

- `batches.py`: an incoming `P/events` message read into rows (pure);
- `database.py`: the database (SQLite or PostgreSQL), its schema and migrations,
  the insert-or-ignore of a group of batches in one transaction, erasure;
- `worker.py`: one worker: an MQTT 5 shared subscription (clean session), the
  database thread, acks after commit;
- `purge.py`: erasing a visitor from the database and from the devices that saw them.
"""
