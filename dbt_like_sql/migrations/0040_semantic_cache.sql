-- Semantic cache: user segments, segment persona vectors, one shared answer per segment and scope, and the ledger of requests and generations.

-- A profile's segment persona: its vibe label when it has one, else its persona label; lower-cased, blanks squeezed.
CREATE FUNCTION profile_segment_persona(profile json) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN lower(regexp_replace(btrim(coalesce(
    nullif(btrim(profile -> 'vibe' ->> 'label'), ''),
    profile -> 'persona' ->> 'label'
)), '\s+', ' ', 'g'));

-- A profile's segment city: its heaviest city, lower-cased; '' for a profile without cities.
CREATE FUNCTION profile_segment_city(profile json) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN coalesce((profile_top_keys(profile -> 'cities', 'city', 1))[1], '');

-- Each user's segment as of their current profile version: who a segment's answer is reasoned from,
-- and which segments have the most active users. Refreshed from profile heads by the semantic_cache asset.
CREATE TABLE user_segments (
    user_id         text    PRIMARY KEY,
    profile_version integer NOT NULL,
    persona         text    NOT NULL,
    city            text    NOT NULL,
    evidence_day    date    NOT NULL   -- the newest receive day of the user's signals: how active they are
);
CREATE INDEX user_segments_segment ON user_segments (city, persona);
CREATE INDEX user_segments_evidence_day ON user_segments (evidence_day);

-- One vector per persona text and embedding model: a persona is embedded once, ever.
CREATE TABLE segment_persona_vectors (
    model_id    text        NOT NULL,
    text        text        NOT NULL,
    embedding   vector      NOT NULL,
    embedded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model_id, text)
);

-- One answer per segment persona within a scope (city, kind, locale, definition hash). Similarity may
-- widen only the persona: a near hit is looked for among entries of exactly the same scope.
-- A 'pending' row is a claim on a generation in progress: its expires_at is when the claim lapses.
CREATE TABLE semantic_cache (
    entry_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    city            text             NOT NULL,
    kind            text             NOT NULL,
    locale          text             NOT NULL,
    version_hash    text             NOT NULL,   -- the segment definition, reasoner, prompt and schema the answer was made under
    persona         text             NOT NULL,
    state           text             NOT NULL CHECK (state IN ('pending', 'ready')),
    claim_token     uuid,
    response        jsonb,
    embedding       vector,                      -- the persona's vector, for near hits
    embedding_model text,
    model           text,
    generated_by    text,
    fallback_reason text,
    input_tokens    integer          NOT NULL DEFAULT 0,
    output_tokens   integer          NOT NULL DEFAULT 0,
    cost_usd        double precision NOT NULL DEFAULT 0,
    call_tokens     integer          NOT NULL DEFAULT 0,   -- what one LLM call for this answer takes: actual, or estimated for a local answer
    call_cost_usd   double precision NOT NULL DEFAULT 0,
    segment_users   integer          NOT NULL DEFAULT 0,
    created_at      timestamptz      NOT NULL DEFAULT now(),
    expires_at      timestamptz      NOT NULL,   -- hard: hits never move it
    hits            bigint           NOT NULL DEFAULT 0,
    CHECK (state = 'pending' OR response IS NOT NULL),
    UNIQUE (city, kind, locale, version_hash, persona)
);
CREATE INDEX semantic_cache_expires ON semantic_cache (expires_at);

-- Every request's outcome and every generation, kept for the savings figures; no user ids, only a
-- 64-bit hash of each, enough to count distinct users.
CREATE TABLE semantic_cache_ledger (
    event_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz      NOT NULL DEFAULT now(),
    event           text             NOT NULL CHECK (event IN ('hit', 'near_hit', 'shared', 'miss', 'generation')),
    kind            text             NOT NULL,
    segment_key     text             NOT NULL,
    entry_id        bigint,                      -- no foreign key: entries are evicted, their history stays
    user_hash       bigint,                      -- requests only
    similarity      real,                        -- near hits only
    source          text,                        -- generations: request, warm or refresh
    generated_by    text,
    llm_calls       integer          NOT NULL DEFAULT 0,
    fallback_reason text,
    input_tokens    integer          NOT NULL DEFAULT 0,
    output_tokens   integer          NOT NULL DEFAULT 0,
    cost_usd        double precision NOT NULL DEFAULT 0,
    call_tokens     integer          NOT NULL DEFAULT 0,
    call_cost_usd   double precision NOT NULL DEFAULT 0
);
-- Rows arrive in time order: a BRIN index serves the time windows at almost no write cost.
CREATE INDEX semantic_cache_ledger_at ON semantic_cache_ledger USING brin (at);
