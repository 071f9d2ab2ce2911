-- Serialises warm-ups for the rest of the transaction: a second run waits, then finds the work done.
SELECT pg_advisory_xact_lock(hashtext('distillery.semantic_cache_warm'))
