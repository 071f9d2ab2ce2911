-- The model similarity search reads, with its dimension (no row until a model has covered every profile).
SELECT model_id, dimension FROM embedding_models WHERE state = 'serving'
