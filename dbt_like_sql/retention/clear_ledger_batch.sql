-- Deletes one batch of dedup-ledger entries of days already dropped from Postgres; returns the rows deleted.
DELETE FROM signal_ledger
WHERE ctid = ANY (ARRAY(
    SELECT l.ctid
    FROM signal_ledger AS l
    WHERE l.received_on IN (SELECT day FROM archive_manifest WHERE dropped_at IS NOT NULL)
    LIMIT %(batch_rows)s
))
