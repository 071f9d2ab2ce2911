-- Registers the configured embedding model (building, unless it already serves) and returns the dimension it was registered with.
INSERT INTO embedding_models (model_id, dimension)
VALUES (%(model_id)s, %(dimension)s)
ON CONFLICT (model_id) DO UPDATE SET model_id = excluded.model_id
RETURNING dimension
