"""The platform's storage: tables (:mod:`.schema`), engines and partitions (:mod:`.db`), the idempotent apply of
record batches with rollups (:mod:`.apply`) and the dashboard queries (:mod:`.queries`)."""
