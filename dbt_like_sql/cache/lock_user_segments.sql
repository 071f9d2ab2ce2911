-- Serialises refreshes of user_segments for the rest of the transaction: concurrent upserts of the same users could deadlock.
SELECT pg_advisory_xact_lock(hashtext('distillery.user_segments'))
