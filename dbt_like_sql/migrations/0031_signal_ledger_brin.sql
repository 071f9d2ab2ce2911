-- Retention finds a dropped day's ledger entries through a BRIN index: the ledger is appended in
-- receive order, so block ranges map to days, and a BRIN costs ingestion next to nothing where
-- the B-tree it replaces was a second random insert per claimed id.
DROP INDEX signal_ledger_received_on;
CREATE INDEX signal_ledger_received_on ON signal_ledger USING brin (received_on) WITH (autosummarize = on);
