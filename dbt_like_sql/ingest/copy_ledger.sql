-- Claims the chunk's new event_ids in the ledger in bulk (checked unseen under the ledger lock).
COPY signal_ledger (event_id, received_on) FROM STDIN (FORMAT csv)
