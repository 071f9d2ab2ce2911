-- What each vector was made from (profile version, text hash), apart from the vector: confirming an unchanged profile's new version must not rewrite a ~1.6 KB vector row and its HNSW entry.
CREATE TABLE profile_embedding_sources (
    user_id         text   NOT NULL,
    model_id        text   NOT NULL,
    -- the profile version this vector was made, or confirmed unchanged, for
    profile_version bigint NOT NULL,
    -- sha256 of the canonical text embedded: an unchanged text is never embedded again
    content_hash    bytea  NOT NULL,
    PRIMARY KEY (user_id, model_id),
    FOREIGN KEY (user_id, model_id) REFERENCES profile_embeddings ON DELETE CASCADE
);

INSERT INTO profile_embedding_sources (user_id, model_id, profile_version, content_hash)
SELECT user_id, model_id, profile_version, content_hash FROM profile_embeddings;

ALTER TABLE profile_embeddings DROP COLUMN profile_version, DROP COLUMN content_hash;
