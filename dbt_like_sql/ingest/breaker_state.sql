-- The ingestion circuit breaker's current state.
SELECT breaker_open, reason, opened_at, reset_at, reset_by FROM ingestion_state
