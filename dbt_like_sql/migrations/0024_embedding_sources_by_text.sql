-- Finds a stored vector of the same canonical text (another user's), so an identical text is embedded once per model.
CREATE INDEX profile_embedding_sources_text ON profile_embedding_sources (model_id, content_hash);
