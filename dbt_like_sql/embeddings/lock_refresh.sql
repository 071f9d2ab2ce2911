-- Serialises profile_embeddings runs until the caller's transaction ends: concurrent partitions would embed the same profiles twice.
SELECT pg_advisory_xact_lock(hashtextextended('profile_embeddings', 0))
