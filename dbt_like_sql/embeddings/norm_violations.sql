-- One model's vectors whose L2 norm is not 1 within a tolerance (pgvector itself refuses NaN and infinity), with the extreme norms.
SELECT count(*) AS vectors,
       count(*) FILTER (WHERE NOT abs(norm - 1) <= %(tolerance)s) AS off_unit,
       coalesce((array_agg(user_id ORDER BY user_id) FILTER (WHERE NOT abs(norm - 1) <= %(tolerance)s))[1:10], '{}') AS examples,
       min(norm) AS min_norm,
       max(norm) AS max_norm
FROM (SELECT user_id, vector_norm(embedding) AS norm FROM profile_embeddings WHERE model_id = %(model_id)s) AS norms
