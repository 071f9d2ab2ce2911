-- A random sample of one model's vectors, as recall queries.
SELECT user_id, embedding FROM profile_embeddings WHERE model_id = %(model_id)s ORDER BY random() LIMIT %(sample)s
