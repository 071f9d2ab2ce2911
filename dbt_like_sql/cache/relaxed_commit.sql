-- Serving an answer writes only a hit count and a ledger row: not worth waiting for a disk flush (a server crash may lose the last few, never an answer).
SELECT set_config('synchronous_commit', 'off', true)
