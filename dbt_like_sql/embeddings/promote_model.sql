-- Makes the configured model the one similarity search reads.
UPDATE embedding_models
SET state = 'serving', serving_since = now()
WHERE model_id = %(model_id)s AND state <> 'serving'
