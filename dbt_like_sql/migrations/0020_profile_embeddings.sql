-- Profile embeddings: the model registry, one vector per (user, model), and profiles whose text was rejected.
CREATE EXTENSION IF NOT EXISTS vector;

-- Every model that holds vectors: the one serving similarity search, and at most one being built
-- beside it. A newly configured model is 'building' until every profile has its vector; then it
-- serves and the previous model is deleted with its vectors and its index.
CREATE TABLE embedding_models (
    model_id      text PRIMARY KEY,
    dimension     integer     NOT NULL CHECK (dimension BETWEEN 1 AND 16000),
    state         text        NOT NULL DEFAULT 'building' CHECK (state IN ('building', 'serving')),
    registered_at timestamptz NOT NULL DEFAULT now(),
    serving_since timestamptz
);
CREATE UNIQUE INDEX embedding_models_one_serving ON embedding_models (state) WHERE state = 'serving';

-- The column is an untyped vector so models of different dimensions live side by side during a
-- switch; each model gets a partial HNSW index on the column cast to its own dimension.
CREATE TABLE profile_embeddings (
    user_id         text        NOT NULL,
    model_id        text        NOT NULL REFERENCES embedding_models ON DELETE CASCADE,
    -- the profile version this vector was made, or confirmed unchanged, for
    profile_version bigint      NOT NULL,
    -- sha256 of the canonical text embedded: an unchanged text is never embedded again
    content_hash    bytea       NOT NULL,
    -- the profile's cities, lower-cased, for filtered search
    cities          text[]      NOT NULL DEFAULT '{}',
    embedding       vector      NOT NULL,
    embedded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, model_id)
);
CREATE INDEX profile_embeddings_cities ON profile_embeddings USING gin (cities);

-- A profile version whose text or vector was refused: kept aside with its reason, retried only
-- when the profile changes.
CREATE TABLE embedding_rejects (
    user_id         text        NOT NULL,
    model_id        text        NOT NULL REFERENCES embedding_models ON DELETE CASCADE,
    profile_version bigint      NOT NULL,
    reason          text        NOT NULL,
    rejected_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, model_id)
);
