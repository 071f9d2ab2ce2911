-- Serialises retention runs for as long as this session lives (retention needs autocommit for DETACH CONCURRENTLY).
SELECT pg_advisory_lock(hashtext('distillery.retention'))
