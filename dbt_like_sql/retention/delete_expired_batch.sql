-- Deletes one batch of rows older than the cutoff from a declared plain table ({returning} hands them to the archive).
DELETE FROM {table}
WHERE ctid = ANY (ARRAY(
    SELECT ctid FROM {table} WHERE {time_column} < %(cutoff)s LIMIT %(batch_rows)s
))
{returning}
