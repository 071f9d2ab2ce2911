-- Waits for in-flight ingestion batches to commit (each holds ingest_batches from its first row to its commit); released at once by the caller's commit.
LOCK TABLE ingest_batches IN SHARE MODE
