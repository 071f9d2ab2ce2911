-- One model's vectors whose dimension differs from the expected one, with the dimension the model was registered with.
SELECT count(*) AS vectors,
       count(*) FILTER (WHERE vector_dims(e.embedding) <> %(dimension)s) AS wrong_dimension,
       coalesce((array_agg(e.user_id ORDER BY e.user_id) FILTER (WHERE vector_dims(e.embedding) <> %(dimension)s))[1:10], '{}') AS examples,
       (SELECT m.dimension FROM embedding_models m WHERE m.model_id = %(model_id)s) AS registered_dimension
FROM profile_embeddings e
WHERE e.model_id = %(model_id)s
