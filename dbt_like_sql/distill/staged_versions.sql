-- One shard's new profile versions, documents serialised as JSON, in the column order of copy_profile_versions (DuckDB).
SELECT user_id, version, to_json(doc)::VARCHAR AS profile, $day::DATE AS day, distiller, signals, $run_id::VARCHAR AS run_id
FROM documents
WHERE shard = $shard
ORDER BY user_id
