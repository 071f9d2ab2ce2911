-- Per-day distillation record: which receive days have had every signal merged into profiles.
CREATE TABLE distilled_days (
    day              date PRIMARY KEY,
    signals          bigint      NOT NULL DEFAULT 0,
    users            integer     NOT NULL DEFAULT 0,
    profiles_updated integer     NOT NULL DEFAULT 0,
    -- true once a distillation ran after the day had closed, so no later signal can belong to it
    complete         boolean     NOT NULL DEFAULT false,
    distilled_at     timestamptz NOT NULL DEFAULT now(),
    run_id           text
);
