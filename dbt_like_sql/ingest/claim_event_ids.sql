-- Streams back the chunk's event_ids that the ledger already holds (duplicates), usually few.
COPY (
    SELECT chunk_event_ids.event_id
    FROM chunk_event_ids
    JOIN signal_ledger USING (event_id)
) TO STDOUT (FORMAT csv)
