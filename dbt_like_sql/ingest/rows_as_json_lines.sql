-- Renders typed rows (Parquet or Arrow batches, DuckDB relation `rows`) as UTF-8 JSON lines for the shared validation.
SELECT encode(CAST(to_json(rows) AS varchar)) AS line FROM rows
