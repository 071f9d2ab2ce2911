-- Stores a persona text's vector of a model (the first one wins: the same text gives the same vector).
INSERT INTO segment_persona_vectors (model_id, text, embedding)
VALUES (%(model_id)s, %(text)s, %(embedding)s)
ON CONFLICT (model_id, text) DO NOTHING
