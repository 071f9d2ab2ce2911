-- Decayed old plus new keyed evidence, the strongest entries per user and kind (DuckDB).
CREATE OR REPLACE TEMP TABLE merged_keys AS
WITH combined AS (
    SELECT n.user_id, n.kind, n.key, n.evidence * m.new_factor AS evidence
    FROM new_keys AS n JOIN merged_users AS m USING (user_id)
    UNION ALL
    SELECT p.user_id, p.kind, p.key, p.evidence * m.old_factor
    FROM previous_keys AS p JOIN merged_users AS m USING (user_id)
),
summed AS (
    SELECT user_id, kind, key, round(sum(evidence), 3) AS evidence
    FROM combined
    WHERE key IS NOT NULL
    GROUP BY user_id, kind, key
    HAVING round(sum(evidence), 3) > 0
),
collected AS (
    SELECT
        user_id,
        list({'evidence': evidence, 'key': key}) FILTER (WHERE kind = 'interest') AS interests,
        list({'evidence': evidence, 'key': key}) FILTER (WHERE kind = 'city') AS cities,
        list({'evidence': evidence, 'key': key}) FILTER (WHERE kind = 'vibe') AS vibes,
        list({'evidence': evidence, 'key': key}) FILTER (WHERE kind = 'item') AS items
    FROM summed
    GROUP BY user_id
),
kept AS (
    -- Strongest first, ties by key, so every run keeps the same entries (sorting the lists is
    -- cheaper than an ordered aggregate).
    SELECT
        user_id,
        list_sort(coalesce(interests, []), 'DESC')[1:$max_interests] AS interests,
        list_sort(coalesce(cities, []), 'DESC')[1:$max_cities] AS cities,
        list_sort(coalesce(vibes, []), 'DESC')[1:$max_vibes] AS vibes,
        list_sort(coalesce(items, []), 'DESC')[1:$max_top_items] AS items
    FROM collected
)
SELECT
    user_id,
    [{'topic': e.key, 'weight': e.evidence} FOR e IN interests] AS interests,
    [{'city': e.key, 'weight': e.evidence} FOR e IN cities] AS cities,
    [{'vibe': e.key, 'weight': e.evidence} FOR e IN vibes] AS vibes,
    [{'item': e.key, 'weight': e.evidence} FOR e IN items] AS items
FROM kept
