-- Locks a day's manifest row and returns whether it may still be dropped: verified, not dropped yet, and distilled.
SELECT m.verified_at IS NOT NULL AND m.dropped_at IS NULL AND coalesce(d.complete, false)
FROM archive_manifest AS m
LEFT JOIN distilled_days AS d ON d.day = m.day
WHERE m.day = %(day)s
FOR UPDATE OF m
