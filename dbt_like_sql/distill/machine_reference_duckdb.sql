-- A fixed single-threaded DuckDB workload shaped like distillation's (a string-keyed aggregate), timed by bench/distill.py to read the machine's speed.
SELECT count(*), sum(signals)
FROM (SELECT 'user-' || (i % 100000) AS user_id, count(*) AS signals FROM range(1500000) AS t(i) GROUP BY user_id)
