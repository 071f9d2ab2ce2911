-- Session staging table for one chunk of new vectors, emptied at every commit.
CREATE TEMP TABLE IF NOT EXISTS embedding_staging (
    user_id         text,
    profile_version bigint,
    content_hash    bytea,
    cities          text[],
    embedding       vector
) ON COMMIT DELETE ROWS
