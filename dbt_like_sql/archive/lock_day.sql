-- Serialises archive runs of one receive day until the transaction ends, so two runs at once leave one archive.
SELECT pg_advisory_xact_lock(hashtext('distillery.signal_archive'), %(day)s::date - DATE '2000-01-01')
