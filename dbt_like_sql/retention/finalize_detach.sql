-- Completes a concurrent detach that a killed run left pending.
ALTER TABLE raw_signals DETACH PARTITION {partition} FINALIZE
