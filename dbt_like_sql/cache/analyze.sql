-- Refreshes the planner's statistics after a bulk load.
ANALYZE
