-- Benchmark: synthetic users first..last stored as distillation stores them (a version row and the head), each with a vibe and a favourite city drawn with Zipf-like popularity; one in twenty has no vibe.
WITH users AS (
    SELECT
        i,
        'u_' || lpad(i::text, 7, '0') AS user_id,
        (hashint4(i) & 2147483647) / 2147483648.0 AS vibe_draw,
        (hashint4(i * 7919 + 1) & 2147483647) / 2147483648.0 AS city_draw
    FROM generate_series(%(first)s::int, %(last)s::int) AS i
),
documents AS (
    -- floor((n + 1) ^ u) for a uniform u is a Zipf-like rank in 1..n: rank r is drawn about 1/r as often as rank 1.
    SELECT
        user_id,
        json_build_object(
            'distiller', 'local',
            'persona', json_build_object('label', (ARRAY['dreamer', 'planner', 'decider', 'researcher', 'conversationalist'])[1 + i %% 5]),
            'vibe', json_build_object(
                'label',
                CASE WHEN i %% 20 = 0 THEN NULL
                     ELSE (%(vibes)s::text[])[floor(power(cardinality(%(vibes)s::text[]) + 1, vibe_draw))::int] END
            ),
            'cities', json_build_array(json_build_object(
                'city', (%(cities)s::text[])[floor(power(cardinality(%(cities)s::text[]) + 1, city_draw))::int],
                'weight', 5.0
            ))
        ) AS profile
    FROM users
),
versions AS (
    INSERT INTO user_profile_versions (user_id, version, profile, day, distiller, signals)
    SELECT user_id, 1, profile, %(day)s, 'local', 0 FROM documents
)
INSERT INTO user_profile_heads (user_id, version, evidence_day, signals_distilled, local_persona, updated_at)
SELECT user_id, 1, %(day)s, 0, profile -> 'persona' ->> 'label', now() FROM documents
