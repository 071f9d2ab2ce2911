-- raw_signals day tables past the hot window (attached, half-detached or left detached by a killed run) with what the drop depends on.
WITH day_tables AS (
    SELECT
        c.relname AS partition,
        to_date(substring(c.relname FROM 13), 'YYYYMMDD') AS day,
        i.inhrelid IS NOT NULL AS attached,
        coalesce(i.inhdetachpending, false) AS detach_pending
    FROM pg_class AS c
    LEFT JOIN pg_inherits AS i ON i.inhrelid = c.oid AND i.inhparent = 'raw_signals'::regclass
    WHERE c.relkind = 'r'
      AND c.relname ~ '^raw_signals_[0-9]{8}$'
      AND pg_table_is_visible(c.oid)
)
SELECT
    t.partition, t.day, t.attached, t.detach_pending,
    m.verified_at IS NOT NULL AS verified,
    m.dropped_at IS NOT NULL AS dropped_before,
    coalesce(d.complete, false) AS distilled,
    m.day AS manifest_day, m.uri, m.rows, m.bytes, m.checksum
FROM day_tables AS t
LEFT JOIN archive_manifest AS m ON m.day = t.day
LEFT JOIN distilled_days AS d ON d.day = t.day
WHERE t.day <= %(last_expired_day)s
ORDER BY t.day
