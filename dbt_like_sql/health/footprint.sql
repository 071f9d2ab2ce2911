-- Bytes on disk by what they hold, with the rows behind them: profiles (heads and kept versions), embeddings (vectors, their sources, indexes), the dedup ledger, and the whole database.
SELECT
    (SELECT coalesce(sum(pg_total_relation_size(relid)), 0)
     FROM unnest(ARRAY['user_profile_heads', 'user_profile_versions']::regclass[]) AS relid) AS profile_bytes,
    (SELECT count(*) FROM user_profile_versions) AS profile_versions,
    (SELECT coalesce(sum(pg_total_relation_size(relid)), 0)
     FROM unnest(ARRAY['profile_embeddings', 'profile_embedding_sources']::regclass[]) AS relid) AS embedding_bytes,
    (SELECT count(*) FROM profile_embeddings) AS vectors,
    pg_total_relation_size('signal_ledger') AS ledger_bytes,
    pg_database_size(current_database()) AS database_bytes
