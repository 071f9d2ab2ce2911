-- Per-transaction scratch table for the event_ids of one chunk, claimed against the ledger.
CREATE TEMP TABLE IF NOT EXISTS chunk_event_ids (event_id uuid NOT NULL) ON COMMIT DROP
