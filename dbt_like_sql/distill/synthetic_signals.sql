-- Bench data: `signals` signals of `users` users received on a day, the product's event mix, hot props typed, batches of `batch_rows`.
INSERT INTO raw_signals (event_id, user_id, session_id, event_type, occurred_at, received_at, city, item_id, dwell_ms, props, batch_id)
SELECT
    gen_random_uuid(),
    'u_' || lpad(u::text, 6, '0'),
    's_' || u || '_' || mod(i, 5),
    (ARRAY['view', 'view', 'view', 'view', 'click', 'click', 'scroll', 'dwell', 'search', 'save', 'book', 'chat_message'])[1 + mod(h & 2147483647, 12)],
    at,
    at,
    (ARRAY['Lisbon', 'Porto', 'Paris', 'Berlin', 'Tokyo', 'Kyoto', 'Austin', 'Mexico City', 'Rome', 'Bali'])[1 + mod(u * 3 + mod(i, 3), 10)],
    (ARRAY['stay', 'food', 'tour', 'bar', 'museum', 'beach', 'hike', 'spa'])[1 + mod(u + mod(i, 4), 8)] || '_' || lpad(mod(u * 13 + i, 5000)::text, 6, '0'),
    (h >> 8) & 65535,
    jsonb_build_object('vibe', (ARRAY['slow traveller', 'foodie', 'night owl', 'adventurer', 'culture buff', 'luxury'])[1 + mod(u + mod(i, 2), 6)])
        || CASE WHEN mod(h & 2147483647, 12) = 11
                THEN jsonb_build_object('text', 'somewhere quiet by the sea for a long weekend, maybe with live jazz')
                ELSE '{}'::jsonb END,
    %(first_batch)s + i / %(batch_rows)s
FROM generate_series(0::bigint, %(signals)s - 1) AS i,
LATERAL (SELECT hashint8(i + %(seed)s) AS h, mod(hashint8(i * 31 + %(seed)s) & 2147483647, %(users)s) AS u) AS drawn,
LATERAL (SELECT %(day)s::date::timestamp AT TIME ZONE 'UTC' + mod(i * 7919, 86400) * interval '1 second' AS at) AS timed
