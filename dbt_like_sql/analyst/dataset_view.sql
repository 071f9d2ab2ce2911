-- An analyst view over one archived dataset's Parquet files; hive folders (day=, snapshot_date=) become DATE columns.
CREATE OR REPLACE VIEW {view} AS
SELECT * FROM read_parquet({files}, hive_partitioning = true, union_by_name = true)
