-- Streams quarantined lines with their reasons.
COPY signal_rejects (batch_id, source, received_at, reason, detail, event_id, user_id, raw)
FROM STDIN (FORMAT csv)
