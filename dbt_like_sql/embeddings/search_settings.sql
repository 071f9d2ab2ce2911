-- HNSW search settings for the rest of the transaction: candidate list size, and iterative scans so filtered searches keep scanning until they have k rows.
SELECT set_config('hnsw.ef_search', %(ef_search)s, true),
       set_config('hnsw.iterative_scan', 'relaxed_order', true),
       set_config('hnsw.max_scan_tuples', %(max_scan_tuples)s, true)
