-- Benchmark: synthetic save, book and dwell signals of every profile, received on one day: mostly in the user's favourite city, items of each city drawn Zipf-like.
WITH draws AS (
    SELECT
        v.user_id,
        v.profile -> 'cities' -> 0 ->> 'city' AS home,
        hashint4(hashtext(v.user_id) + k) & 2147483647 AS h
    FROM user_profile_versions AS v
    CROSS JOIN generate_series(1, %(per_user)s) AS k
),
events AS (
    SELECT
        user_id,
        h,
        CASE WHEN h %% 100 < 40 THEN 'save' WHEN h %% 100 < 55 THEN 'book' ELSE 'dwell' END AS event_type,
        CASE WHEN (h / 100) %% 10 < 8 THEN home
             ELSE (%(cities)s::text[])[1 + (h / 1000) %% cardinality(%(cities)s::text[])] END AS city
    FROM draws
)
INSERT INTO raw_signals (event_id, user_id, session_id, event_type, occurred_at, received_at, city, item_id, dwell_ms, props, batch_id)
SELECT
    gen_random_uuid(),
    user_id,
    's1',
    event_type,
    %(day)s::timestamptz + make_interval(secs => h %% 86000),
    %(day)s::timestamptz + make_interval(secs => h %% 86000 + 60),
    city,
    (ARRAY['stay', 'food', 'bar', 'tour', 'museum'])[1 + (h / 7) %% 5] || '_' || city || '_'
        || floor(power(51, ((h / 31) %% 10000) / 10000.0))::int,
    CASE WHEN event_type = 'dwell' THEN (h / 13) %% 300000 END,
    '{}'::jsonb,
    0
FROM events
