-- Versioned user profiles, the per-(day, shard) distillation watermarks and the LLM usage ledger.

-- Every version of every profile. The document is stored once, here; `json`, not `jsonb`: profiles
-- are written and read whole, and jsonb's numeric parsing made bulk writes several times slower.
CREATE TABLE user_profile_versions (
    user_id    text        NOT NULL,
    version    integer     NOT NULL,
    profile    json        NOT NULL,
    day        date        NOT NULL,   -- the receive day whose signals made this version
    distiller  text        NOT NULL,   -- local, gemini, or rollback
    signals    integer     NOT NULL,   -- new signals merged into this version
    run_id     text,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, version)
);
-- The checks of a day read what that day wrote.
CREATE INDEX user_profile_versions_day ON user_profile_versions (day);

-- The current version of each profile and the little state distillation decides on.
CREATE TABLE user_profile_heads (
    user_id           text PRIMARY KEY,
    version           integer     NOT NULL,
    evidence_day      date        NOT NULL,   -- newest receive day merged; older evidence is decayed to it
    signals_distilled bigint      NOT NULL,
    signals_since_llm bigint      NOT NULL DEFAULT 0,
    local_persona     text        NOT NULL,   -- the local method's label, to notice persona changes
    llm_distilled_at  timestamptz,
    updated_at        timestamptz NOT NULL
);

-- What the product reads: one row per user with the current document.
CREATE VIEW user_profiles AS
SELECT h.user_id, h.version, v.profile, v.distiller, h.evidence_day, h.signals_distilled, h.updated_at
FROM user_profile_heads AS h
JOIN user_profile_versions AS v USING (user_id, version);

-- Exactly-once distillation: for each receive day and user shard, every batch up to batch_id has been
-- merged into profiles. Written in the same transaction as the shard's profiles.
CREATE TABLE distill_watermarks (
    day              date        NOT NULL,
    shard            smallint    NOT NULL,
    shards           smallint    NOT NULL,   -- a day keeps the shard count of its first distillation
    batch_id         bigint      NOT NULL DEFAULT 0,
    signals          bigint      NOT NULL DEFAULT 0,
    profiles_updated bigint      NOT NULL DEFAULT 0,
    run_id           text,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, shard)
);

-- One row per LLM request, committed as soon as it returns, so spent tokens are never lost with a rolled-back shard.
CREATE TABLE llm_usage (
    usage_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id          text,
    day             date             NOT NULL,
    model           text             NOT NULL,
    users           text[]           NOT NULL,
    attempts        integer          NOT NULL,
    input_tokens    integer          NOT NULL,
    output_tokens   integer          NOT NULL,
    cost_usd        double precision NOT NULL,
    fallback_reason text,
    detail          text,
    latency_s       double precision,
    created_at      timestamptz      NOT NULL DEFAULT now()
);
CREATE INDEX llm_usage_day ON llm_usage (day);
CREATE INDEX llm_usage_created ON llm_usage (created_at);
