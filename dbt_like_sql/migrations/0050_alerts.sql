-- Alerts raised by failing health checks and failed runs, one open row per condition, with webhook delivery state.
CREATE TABLE alerts (
    alert_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- the condition, e.g. health:processing_lag_under_threshold:warning or run_failure:retention_job:2026-11-20
    alert_key      text        NOT NULL,
    source         text        NOT NULL CHECK (source IN ('health_check', 'run_failure')),
    severity       text        NOT NULL CHECK (severity IN ('warning', 'error')),
    summary        text        NOT NULL,
    details        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    run_id         text,
    raised_at      timestamptz NOT NULL DEFAULT now(),
    resolved_at    timestamptz,
    delivered_at   timestamptz,
    delivery_error text
);

-- One open alert per condition: raising it again while it is open is a no-op, so nothing is posted twice.
CREATE UNIQUE INDEX alerts_one_open_per_key ON alerts (alert_key) WHERE resolved_at IS NULL;
-- The webhook sender picks undelivered alerts oldest first.
CREATE INDEX alerts_undelivered ON alerts (raised_at) WHERE delivered_at IS NULL;
