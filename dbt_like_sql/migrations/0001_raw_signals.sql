-- Raw signal buffer range-partitioned by receive day, its dedup ledger, quarantine, batch log and breaker state.

CREATE TABLE raw_signals (
    event_id    uuid        NOT NULL,
    user_id     text        NOT NULL,
    session_id  text,
    event_type  text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    city        text,
    item_id     text,
    dwell_ms    integer,
    props       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    batch_id    bigint      NOT NULL
) PARTITION BY RANGE (received_at);

-- Per-user reads (a user's recent history, per-user caps); distillation scans whole day partitions.
CREATE INDEX raw_signals_user_received ON raw_signals (user_id, received_at);

-- One row per event_id seen in the hot window: Postgres cannot enforce uniqueness across
-- partitions, so ingestion claims each id here first and stores only the rows it claimed.
CREATE TABLE signal_ledger (
    event_id    uuid PRIMARY KEY,
    received_on date NOT NULL
);

CREATE TABLE ingest_batches (
    batch_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source        text        NOT NULL,
    source_sha256 text,
    received_at   timestamptz NOT NULL,
    rows_in       integer     NOT NULL,
    accepted      integer     NOT NULL,
    duplicates    integer     NOT NULL,
    rejected      integer     NOT NULL,
    rate_limited  integer     NOT NULL DEFAULT 0,
    seconds       double precision NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ingest_batches_created ON ingest_batches (created_at);
CREATE INDEX ingest_batches_source_sha256 ON ingest_batches (source_sha256) WHERE source_sha256 IS NOT NULL;

CREATE TABLE signal_rejects (
    reject_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    batch_id    bigint,
    source      text        NOT NULL,
    received_at timestamptz NOT NULL,
    reason      text        NOT NULL,
    detail      text        NOT NULL,
    event_id    text,
    user_id     text,
    raw         text        NOT NULL
);
CREATE INDEX signal_rejects_received ON signal_rejects (received_at);

-- The ingestion circuit breaker: one row, opened when recent batches reject too much.
CREATE TABLE ingestion_state (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    breaker_open boolean     NOT NULL DEFAULT false,
    reason       text,
    opened_at    timestamptz,
    reset_at     timestamptz,
    reset_by     text
);
INSERT INTO ingestion_state DEFAULT VALUES;

-- Creates the day partition of raw_signals if missing; serialised so concurrent callers cannot race.
CREATE FUNCTION ensure_raw_signals_partition(day date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    partition_name text := 'raw_signals_' || to_char(day, 'YYYYMMDD');
BEGIN
    IF to_regclass(partition_name) IS NULL THEN
        PERFORM pg_advisory_xact_lock(hashtext('distillery.raw_signals_partitions'));
        EXECUTE format(
            'CREATE TABLE IF NOT EXISTS %I PARTITION OF raw_signals FOR VALUES FROM (%L) TO (%L)',
            partition_name,
            day::timestamp AT TIME ZONE 'UTC',
            (day + 1)::timestamp AT TIME ZONE 'UTC'
        );
    END IF;
    RETURN partition_name;
END
$$;
