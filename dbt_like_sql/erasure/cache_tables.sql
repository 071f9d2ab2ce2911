-- Whether the semantic cache (user segments, answers and their ledger) is built on this database.
SELECT to_regclass('user_segments') IS NOT NULL
   AND to_regclass('semantic_cache') IS NOT NULL
   AND to_regclass('semantic_cache_ledger') IS NOT NULL
