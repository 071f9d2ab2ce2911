-- The local reasoner: for each requested segment ('*': everyone of the city), ranks the items and places at least two of its users saved, booked or dwelt on in the evidence window, and writes the answer document with templated explanations.
WITH targets AS (
    SELECT
        persona, city, label,
        CASE WHEN persona = '*' THEN 'travellers' ELSE persona || ' travellers' END
            || CASE WHEN city = '' THEN ' without a favourite city' ELSE ' who favour ' || initcap(city) END AS audience
    FROM unnest(%(personas)s::text[], %(cities)s::text[], %(labels)s::text[]) AS t (persona, city, label)
),
members AS (
    SELECT s.user_id, t.persona, t.city
    FROM user_segments AS s
    JOIN targets AS t ON s.city = t.city AND (t.persona = '*' OR s.persona = t.persona)
),
segment_size AS (
    SELECT persona, city, count(*) AS users FROM members GROUP BY persona, city
),
signals AS (
    -- Raw keys are end-user input: control characters and markup go, and they are capped like profile keys.
    SELECT
        m.persona,
        m.city,
        r.user_id,
        nullif(left(btrim(regexp_replace(r.item_id, '[[:cntrl:]<>]', '', 'g')), 80), '') AS item_id,
        nullif(left(btrim(lower(regexp_replace(r.city, '[[:cntrl:]<>]', '', 'g'))), 80), '') AS place,
        r.event_type,
        r.dwell_ms
    FROM members AS m
    JOIN raw_signals AS r ON r.user_id = m.user_id
    WHERE r.received_at >= %(since)s
      AND r.event_type IN ('book', 'save', 'dwell')
      AND r.item_id IS NOT NULL
      AND (%(categories)s::text[] IS NULL
           OR lower(coalesce(r.props ->> 'category', split_part(r.item_id, '_', 1))) = ANY (%(categories)s::text[]))
),
per_user AS (
    SELECT
        persona, city, user_id, item_id, place,
        count(*) FILTER (WHERE event_type = 'book') AS books,
        count(*) FILTER (WHERE event_type = 'save') AS saves,
        coalesce(sum(least(greatest(dwell_ms, 0), %(max_dwell_ms)s)) FILTER (WHERE event_type = 'dwell'), 0) / 60000.0 AS dwell_minutes
    FROM signals
    WHERE item_id IS NOT NULL
    GROUP BY persona, city, user_id, item_id, place
),
weighted AS (
    -- ln(1 + evidence): one user's pull on an item grows slower than their activity, so many users outrank one enthusiast.
    SELECT *, ln(1 + %(book_weight)s * books + %(save_weight)s * saves + %(dwell_minute_weight)s * dwell_minutes) AS pull
    FROM per_user
),
items AS (
    SELECT
        persona, city, item_id, place,
        sum(pull) AS pull,
        max(sum(pull)) OVER (PARTITION BY persona, city) AS top_pull,
        count(*) AS users,
        sum(books) AS books,
        sum(saves) AS saves,
        sum(dwell_minutes) AS dwell_minutes,
        row_number() OVER (PARTITION BY persona, city ORDER BY sum(pull) DESC, item_id, place) AS item_rank,
        row_number() OVER (PARTITION BY persona, city, place ORDER BY sum(pull) DESC, item_id) AS place_rank
    FROM weighted
    GROUP BY persona, city, item_id, place
    -- One user's favourite is not the segment's, and showing it would tell the others what that user did.
    HAVING count(*) >= %(min_item_users)s
),
places AS (
    SELECT
        persona, city, place,
        sum(pull) AS pull,
        max(sum(pull)) OVER (PARTITION BY persona, city) AS top_pull,
        count(DISTINCT user_id) AS users,
        sum(books) AS books,
        sum(saves) AS saves,
        sum(dwell_minutes) AS dwell_minutes,
        row_number() OVER (PARTITION BY persona, city ORDER BY sum(pull) DESC, place) AS place_order
    FROM weighted
    WHERE place IS NOT NULL
    GROUP BY persona, city, place
    HAVING count(DISTINCT user_id) >= %(min_item_users)s
),
totals AS (
    SELECT persona, city, count(DISTINCT user_id) AS engaged, sum(books) AS books, sum(saves) AS saves, sum(dwell_minutes) AS dwell_minutes
    FROM weighted
    GROUP BY persona, city
),
item_lists AS (
    SELECT persona, city, json_agg(json_build_object(
        'item_id', item_id,
        'place', place,
        'score', round((pull / nullif(top_pull, 0))::numeric, 4),
        'users', users,
        'saves', saves,
        'books', books,
        'dwell_minutes', round(dwell_minutes::numeric, 1)
    ) ORDER BY item_rank) AS items
    FROM items
    WHERE item_rank <= %(max_items)s
    GROUP BY persona, city
),
place_lists AS (
    SELECT persona, city, json_agg(json_build_object(
        'place', place,
        'score', round((pull / nullif(top_pull, 0))::numeric, 4),
        'users', users
    ) ORDER BY place_order) AS places
    FROM places
    WHERE place_order <= %(max_places)s
    GROUP BY persona, city
),
idea_lists AS (
    SELECT p.persona, p.city, json_agg(json_build_object(
        'title', format('%%s: %%s picks', initcap(p.place), CASE WHEN p.persona = '*' THEN 'top' ELSE p.persona END),
        'place', p.place,
        'why', format(
            '%%s of them engaged with places here (saves: %%s, bookings: %%s, minutes lingered: %%s).',
            p.users, p.saves, p.books, round(p.dwell_minutes)
        ),
        'items', picks.items
    ) ORDER BY p.place_order) AS ideas
    FROM places AS p
    CROSS JOIN LATERAL (
        SELECT json_agg(i.item_id ORDER BY i.place_rank) AS items
        FROM items AS i
        WHERE i.persona = p.persona AND i.city = p.city AND i.place = p.place AND i.place_rank <= %(items_per_idea)s
    ) AS picks
    WHERE p.place_order <= %(max_ideas)s AND picks.items IS NOT NULL
    GROUP BY p.persona, p.city
)
SELECT
    t.persona,
    t.city,
    coalesce(s.users, 0) AS segment_users,
    json_build_object(
        'schema', %(schema)s::int,
        'segment', json_build_object('persona', t.persona, 'city', t.city, 'label', t.label),
        'kind', %(kind)s::text,
        'locale', %(locale)s::text,
        'ideas', coalesce(ideas.ideas, '[]'::json),
        'why', CASE
            WHEN il.items IS NULL THEN format(
                'Nothing saved, booked or lingered on by at least %%s of the %%s %%s in the last %%s days yet.',
                %(min_item_users)s::int, coalesce(s.users, 0), t.audience, %(window_days)s::int
            )
            ELSE format(
                'Ranked from what %%s of the %%s %%s saved (%%s), booked (%%s) and lingered on (%%s min) in the last %%s days.',
                tot.engaged, s.users, t.audience, tot.saves, tot.books, round(tot.dwell_minutes), %(window_days)s::int
            )
        END,
        'items', coalesce(il.items, '[]'::json),
        'places', coalesce(pl.places, '[]'::json),
        'evidence', json_build_object(
            'segment_users', coalesce(s.users, 0),
            'engaged_users', coalesce(tot.engaged, 0),
            'saves', coalesce(tot.saves, 0),
            'books', coalesce(tot.books, 0),
            'dwell_minutes', round(coalesce(tot.dwell_minutes, 0)::numeric, 1),
            'window_days', %(window_days)s::int
        ),
        'generated_by', 'local'
    )::text AS response
FROM targets AS t
LEFT JOIN segment_size AS s USING (persona, city)
LEFT JOIN totals AS tot USING (persona, city)
LEFT JOIN item_lists AS il USING (persona, city)
LEFT JOIN place_lists AS pl USING (persona, city)
LEFT JOIN idea_lists AS ideas USING (persona, city)
