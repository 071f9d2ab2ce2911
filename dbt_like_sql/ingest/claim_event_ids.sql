-- Streams back the chunk's event_ids that the ledger already holds (duplicates).
-- The LATERAL ... LIMIT keeps this an index probe per id in key order: a hash join would read
-- the whole ledger (the hot window's ids) for every chunk.
COPY (
    SELECT chunk_event_ids.event_id
    FROM chunk_event_ids
    CROSS JOIN LATERAL (
        SELECT 1 FROM signal_ledger WHERE signal_ledger.event_id = chunk_event_ids.event_id LIMIT 1
    ) AS claimed
) TO STDOUT (FORMAT csv)
