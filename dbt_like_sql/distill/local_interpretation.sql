-- The local distiller (DuckDB): persona from the behaviour mix, travel style from cities and conversion, a templated summary.
CREATE OR REPLACE TEMP TABLE interpretation AS
WITH shares AS (
    SELECT
        m.user_id,
        m.local_persona AS persona,
        m.daypart,
        m.signals_distilled,
        m.dwell_seconds,
        greatest(m.engagement_total, 1e-9) AS total,
        m.engagement,
        coalesce(k.interests, []) AS interests,
        coalesce(k.cities, []) AS cities,
        greatest(coalesce(list_sum([c.weight FOR c IN k.cities]), 0), 1e-9) AS city_total,
        k.vibes[1].vibe AS vibe
    FROM merged_users AS m
    LEFT JOIN merged_keys AS k USING (user_id)
),
styled AS (
    SELECT
        *,
        CASE
            WHEN total >= 10 AND engagement.book + engagement.save < 0.02 * total THEN 'armchair traveller'
            WHEN len(list_filter(cities, lambda c: c.weight >= 0.15 * city_total)) >= 3 THEN 'city hopper'
            WHEN engagement.book >= 0.1 * total AND engagement.book >= engagement.save THEN 'spontaneous booker'
            WHEN engagement.save + engagement.search >= 0.25 * total THEN 'careful planner'
            WHEN coalesce(cities[1].weight, 0) >= 0.6 * city_total AND dwell_seconds >= 20 * total THEN 'slow traveller'
            ELSE 'explorer'
        END AS travel_style
    FROM shares
)
SELECT
    user_id,
    persona,
    travel_style,
    left(concat_ws(' ',
        upper(persona[1]) || persona[2:] || ', ' || travel_style || '.',
        CASE WHEN len(interests) > 0
             THEN 'Into ' || array_to_string(list_transform(interests[1:3], lambda i: i.topic), ', ')
                  || CASE WHEN len(cities) > 0
                          THEN ' around ' || array_to_string(list_transform(cities[1:2], lambda c: c.city), ' and ')
                          ELSE '' END || '.'
             WHEN len(cities) > 0
             THEN 'Around ' || array_to_string(list_transform(cities[1:2], lambda c: c.city), ' and ') || '.'
        END,
        CASE WHEN vibe IS NOT NULL THEN 'Vibe: ' || vibe || '.' END,
        CASE WHEN daypart IS NOT NULL THEN 'Most active in the ' || daypart || ' (UTC).' END,
        signals_distilled || ' signals distilled.'
    ), $max_summary_chars) AS summary,
    []::VARCHAR[] AS tags,
    'local' AS distiller
FROM styled
