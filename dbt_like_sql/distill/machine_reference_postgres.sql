-- A fixed single-backend Postgres workload (hashing text, as the day's export does), timed by bench/distill.py to read the machine's speed.
SELECT sum(hashtextextended(g::text, 0) & 1023) FROM generate_series(1, 1500000) AS g
