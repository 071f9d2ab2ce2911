-- Claims every unseen event_id of the chunk in the ledger and streams back only the ids that were already claimed (duplicates).
COPY (
    WITH claimed AS (
        INSERT INTO signal_ledger (event_id, received_on)
        SELECT event_id, %(received_on)s::date FROM chunk_event_ids
        ON CONFLICT (event_id) DO NOTHING
        RETURNING event_id
    )
    SELECT chunk_event_ids.event_id
    FROM chunk_event_ids
    LEFT JOIN claimed USING (event_id)
    WHERE claimed.event_id IS NULL
) TO STDOUT (FORMAT csv)
