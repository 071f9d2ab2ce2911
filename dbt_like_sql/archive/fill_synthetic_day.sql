-- Fills one receive day of raw_signals with synthetic signals for benchmarks and tests: %(rows)s rows from %(users)s users.
INSERT INTO raw_signals (event_id, user_id, session_id, event_type, occurred_at, received_at, city, item_id, dwell_ms, props, batch_id)
SELECT
    gen_random_uuid(),
    'user-' || lpad(u::text, 7, '0'),
    'sess-' || u || '-' || (g %% 5),
    kind,
    t - make_interval(secs => g %% 90),
    t,
    (ARRAY['Lisbon', 'Porto', 'Madrid', 'Barcelona', 'Paris', 'Lyon', 'Berlin', 'Munich', 'Rome', 'Milan',
           'Vienna', 'Prague', 'Warsaw', 'Krakow', 'Budapest', 'Athens', 'Dublin', 'London', 'Amsterdam', 'Brussels',
           'Copenhagen', 'Oslo', 'Stockholm', 'Helsinki', 'Zurich', 'Geneva', 'Seville', 'Valencia', 'Naples', 'Nice'])[1 + u %% 30],
    'item-' || (hashint4(g) & 4095),
    CASE WHEN kind = 'dwell' THEN 500 + g %% 60000 END,
    CASE kind
        WHEN 'search' THEN jsonb_build_object('query', 'rooftop bar near ' || g %% 97)
        WHEN 'chat_message' THEN jsonb_build_object('text', 'somewhere ' || (ARRAY['quiet', 'lively', 'cozy'])[1 + g %% 3])
        ELSE jsonb_build_object('vibe', (ARRAY['cozy', 'lively', 'quiet', 'romantic', 'family'])[1 + g %% 5], 'price', g %% 300)
    END,
    %(batch_id)s
FROM (
    SELECT
        g,
        1 + (hashint4(g + %(seed)s) & 2147483647) %% %(users)s AS u,
        (ARRAY['view', 'view', 'view', 'click', 'click', 'scroll', 'dwell', 'search', 'save', 'book', 'chat_message'])
            [1 + (hashint4(g + 7 * %(seed)s) & 2147483647) %% 11] AS kind,
        (%(day)s::date::timestamp AT TIME ZONE 'UTC') + random() * interval '86399 seconds' AS t
    FROM generate_series(1, %(rows)s) AS g
) AS synthetic
