-- Which of these persona texts already have a vector of the model.
SELECT text FROM segment_persona_vectors WHERE model_id = %(model_id)s AND text = ANY (%(texts)s::text[])
