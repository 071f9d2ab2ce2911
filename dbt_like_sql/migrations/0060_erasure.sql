-- Right to erasure: the request queue, the evidence log, the tombstones ingestion refuses, and the archive rewrite journal.

-- The salted hash every erasure table keys on: sha256 of the configured salt followed by the user id.
-- The salt lives in configuration, never in the database, so a hash cannot be checked against a
-- guessed id by someone who can only read the database.
CREATE FUNCTION erasure_hash(salt text, user_id text) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN sha256(convert_to(salt || user_id, 'UTF8'));

-- Pending requests. The raw id is held only until its erasure completes; then the row moves to erasure_log.
CREATE TABLE erasure_requests (
    request_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      text        NOT NULL,
    user_hash    bytea       NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now(),
    requested_by text,
    -- rows removed so far, per store: a resumed run adds to what a killed one already removed
    removed      jsonb       NOT NULL DEFAULT '{}'::jsonb
);
-- One pending request per user: asking again while one waits is a no-op.
CREATE UNIQUE INDEX erasure_requests_one_per_user ON erasure_requests (user_hash);

-- The evidence: one row per completed request, without the id.
CREATE TABLE erasure_log (
    request_id   bigint PRIMARY KEY,
    user_hash    bytea       NOT NULL,
    requested_at timestamptz NOT NULL,
    completed_at timestamptz NOT NULL DEFAULT now(),
    -- false when the id was in no store: reported, not an error
    found        boolean     NOT NULL,
    removed      jsonb       NOT NULL,
    requested_by text,
    run_id       text
);
CREATE INDEX erasure_log_user_hash ON erasure_log (user_hash);
CREATE INDEX erasure_log_completed ON erasure_log (completed_at);

-- Salted hashes of every id ever asked to be erased; ingestion quarantines their later events.
CREATE TABLE erasure_tombstones (
    user_hash    bytea PRIMARY KEY,
    tombstoned_at timestamptz NOT NULL DEFAULT now()
);

-- erasure_hash(salt, 'distillery.salt-check') for the salt the tombstones were made with: a run
-- configured with another salt would make tombstones nothing ever matches, so it is refused.
CREATE TABLE erasure_salt_check (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    salt_check bytea       NOT NULL,
    set_at     timestamptz NOT NULL DEFAULT now()
);

-- An archive file whose rewrite was published but whose record (manifest) was not yet updated:
-- what the new file must hold, so a run killed in between finishes the record instead of guessing.
-- Written in its own transaction before the file is published, while the rewrite's transaction
-- holds the file's lock; a surrogate key, so it never waits on a row that transaction removed.
CREATE TABLE erasure_rewrites (
    rewrite_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uri        text        NOT NULL,
    rows       bigint      NOT NULL,
    bytes      bigint      NOT NULL,
    checksum   text        NOT NULL,
    -- rows removed from the file, per request_id
    removed    jsonb       NOT NULL,
    staged_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX erasure_rewrites_uri ON erasure_rewrites (uri);
