-- Empties the chunk scratch table between chunks of one batch.
TRUNCATE chunk_event_ids
