-- Drops ledger rows older than the kept window.
DELETE FROM semantic_cache_ledger WHERE at < %(before)s
