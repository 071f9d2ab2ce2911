-- Claims every unseen event_id in the ledger and streams back the ones this batch now owns (the others are duplicates).
COPY (
    INSERT INTO signal_ledger (event_id, received_on)
    SELECT event_id, %(received_on)s::date FROM chunk_event_ids
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
) TO STDOUT (FORMAT csv)
