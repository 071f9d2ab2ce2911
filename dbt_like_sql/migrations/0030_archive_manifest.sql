-- The archive manifest, the seal that closes an archived day to writes, and the records retention keeps.

-- One row per receive day exported to Parquet. A day may be dropped from Postgres only once
-- its archive was re-read and matched (verified_at); the CHECK makes the order a database rule.
CREATE TABLE archive_manifest (
    day            date PRIMARY KEY,
    uri            text        NOT NULL,
    rows           bigint      NOT NULL,
    bytes          bigint      NOT NULL,
    checksum       text        NOT NULL,
    schema_version integer     NOT NULL,
    archived_at    timestamptz NOT NULL DEFAULT now(),
    verified_at    timestamptz,
    dropped_at     timestamptz,
    CHECK (dropped_at IS NULL OR verified_at IS NOT NULL)
);

-- Retention deletes a dropped day's ledger entries in batches; without this each batch scans the ledger.
CREATE INDEX signal_ledger_received_on ON signal_ledger (received_on);

-- Nightly Parquet snapshots of user_profiles, one per date, never rewritten.
CREATE TABLE profile_snapshots (
    snapshot_date  date PRIMARY KEY,
    uri            text        NOT NULL,
    rows           bigint      NOT NULL,
    bytes          bigint      NOT NULL,
    sha256         text        NOT NULL,
    schema_version integer     NOT NULL,
    taken_at       timestamptz NOT NULL
);

-- Parquet files written by table retention policies before their rows were deleted; a file
-- under the archive root that is not listed here was left by a killed run and is removed.
CREATE TABLE retention_archive_files (
    uri         text PRIMARY KEY,
    table_name  text        NOT NULL,
    rows        bigint      NOT NULL,
    bytes       bigint      NOT NULL,
    archived_at timestamptz NOT NULL DEFAULT now()
);

-- Closes a receive day to writes before it is archived: a NOT VALID CHECK (false) keeps the
-- rows already there and refuses any new one, so the verified archive stays complete until the
-- drop. Creates the (empty) partition first, so a late row cannot open the day again.
CREATE FUNCTION seal_raw_signals_partition(day date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    partition_name text := 'raw_signals_' || to_char(day, 'YYYYMMDD');
    seal_name text := 'raw_signals_' || to_char(day, 'YYYYMMDD') || '_sealed';
BEGIN
    IF to_regclass(partition_name) IS NULL THEN
        PERFORM ensure_raw_signals_partition(day);
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM pg_constraint
        WHERE conrelid = to_regclass(partition_name) AND conname = seal_name
    ) THEN
        EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (false) NOT VALID', partition_name, seal_name);
    END IF;
    RETURN partition_name;
END
$$;
