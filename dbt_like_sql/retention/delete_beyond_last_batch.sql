-- Deletes one batch of rows beyond the newest %(keep_last)s of each key whose last row is older than %(idle_before)s ({returning} hands them to the archive).
DELETE FROM {table}
WHERE ctid = ANY (ARRAY(
    SELECT ranked.ctid
    FROM (
        SELECT
            ctid,
            row_number() OVER (PARTITION BY {key_column} ORDER BY {time_column} DESC) AS recency,
            max({time_column}) OVER (PARTITION BY {key_column}) AS last_seen
        FROM {table}
    ) AS ranked
    WHERE ranked.recency > %(keep_last)s AND ranked.last_seen < %(idle_before)s
    LIMIT %(batch_rows)s
))
{returning}
