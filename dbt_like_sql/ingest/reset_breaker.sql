-- Closes the circuit breaker after a person has looked.
UPDATE ingestion_state SET breaker_open = false, reset_at = now(), reset_by = %(reset_by)s
