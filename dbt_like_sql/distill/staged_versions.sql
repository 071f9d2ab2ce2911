-- The chunk's new profile versions as Postgres COPY text, by shard, in the column order of copy_profile_versions (DuckDB).
-- A JSON document has no raw tab or newline, so doubling its backslashes is all the escaping it needs.
SELECT shard, pg_text(user_id), version, replace(to_json(doc)::VARCHAR, '\', '\\') AS profile, $day::DATE AS day,
       distiller, signals, pg_text($run_id::VARCHAR) AS run_id
FROM documents
ORDER BY shard, user_id
