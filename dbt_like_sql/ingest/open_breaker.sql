-- Opens the circuit breaker with its reason; ingestion refuses batches until it is reset.
UPDATE ingestion_state SET breaker_open = true, reason = %(reason)s, opened_at = now()
WHERE NOT breaker_open
