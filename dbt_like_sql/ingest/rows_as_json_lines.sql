-- Renders typed rows (Parquet or Arrow batches, DuckDB relation `rows`) as JSON lines for the shared validation.
SELECT CAST(CAST(to_json(rows) AS varchar) AS blob) AS line FROM rows
