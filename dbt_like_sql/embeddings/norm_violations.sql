-- One model's vectors whose L2 norm is not 1 within a tolerance (pgvector itself refuses NaN and infinity), with the extreme norms.
SELECT count(*) AS vectors,
       count(*) FILTER (WHERE NOT abs(vector_norm(embedding) - 1) <= %(tolerance)s) AS off_unit,
       coalesce((array_agg(user_id ORDER BY user_id) FILTER (WHERE NOT abs(vector_norm(embedding) - 1) <= %(tolerance)s))[1:10], '{}') AS examples,
       min(vector_norm(embedding)) AS min_norm,
       max(vector_norm(embedding)) AS max_norm
FROM profile_embeddings
WHERE model_id = %(model_id)s
