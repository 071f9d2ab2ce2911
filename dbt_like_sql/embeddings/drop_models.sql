-- Deletes every model but the configured one (with its vectors and rejects), sparing the serving model unless it is being replaced.
DELETE FROM embedding_models
WHERE model_id <> %(model_id)s
  AND (state <> 'serving' OR %(replace_serving)s)
RETURNING model_id
