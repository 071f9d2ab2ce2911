-- Serialises snapshot runs of one date until the transaction ends, so two runs at once leave one snapshot.
SELECT pg_advisory_xact_lock(hashtext('distillery.profile_snapshot'), %(snapshot_date)s::date - DATE '2000-01-01')
