-- Receive days still in raw_signals, closed before the cut-off, whose archive is not verified in archive_manifest.
SELECT p.day
FROM (
    SELECT to_date(substring(c.relname FROM '^raw_signals_(\d{8})$'), 'YYYYMMDD') AS day
    FROM pg_inherits AS i
    JOIN pg_class AS c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'raw_signals'::regclass
) AS p
WHERE p.day < %(closed_before)s
  AND NOT EXISTS (SELECT 1 FROM archive_manifest AS m WHERE m.day = p.day AND m.verified_at IS NOT NULL)
ORDER BY p.day
