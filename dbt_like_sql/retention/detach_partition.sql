-- Detaches a day partition without blocking ingestion into the other days (runs outside a transaction).
ALTER TABLE raw_signals DETACH PARTITION {partition} CONCURRENTLY
