-- Claims event_ids in the ledger in bulk; its primary key refuses any id claimed before.
COPY signal_ledger (event_id, received_on) FROM STDIN (FORMAT csv)
