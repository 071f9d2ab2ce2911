-- Serialises ledger claims until commit, so an id seen as new cannot be claimed by a concurrent batch in between.
SELECT pg_advisory_xact_lock(hashtext('distillery.signal_ledger'))
