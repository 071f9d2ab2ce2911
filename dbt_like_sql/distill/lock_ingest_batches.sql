-- Waits for in-flight ingestion batches to commit (each holds ingest_batches from its first row to its commit) and briefly holds off new ones.
LOCK TABLE ingest_batches IN SHARE MODE
