-- One shard's new profile versions as Postgres COPY text (JSON has no raw tabs or newlines, only backslashes to double), in the column order of copy_profile_versions (DuckDB).
SELECT pg_text(user_id), version, replace(to_json(doc)::VARCHAR, '\', '\\') AS profile, $day::DATE AS day, distiller, signals,
       pg_text($run_id::VARCHAR) AS run_id
FROM documents
WHERE shard = $shard
ORDER BY user_id
