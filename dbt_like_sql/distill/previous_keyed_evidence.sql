-- The keyed evidence (interests, cities, vibes, items) of the current profiles of a shard's users, one row per entry (DuckDB).
CREATE OR REPLACE TEMP TABLE previous_keys AS
SELECT user_id, 'interest' AS kind, entry.topic AS key, entry.weight AS evidence
FROM (SELECT user_id, unnest(doc.interests) AS entry FROM previous)
UNION ALL
SELECT user_id, 'city', entry.city, entry.weight
FROM (SELECT user_id, unnest(doc.cities) AS entry FROM previous)
UNION ALL
SELECT user_id, 'vibe', entry.vibe, entry.weight
FROM (SELECT user_id, unnest(doc.vibe.scores) AS entry FROM previous)
UNION ALL
SELECT user_id, 'item', entry.item, entry.weight
FROM (SELECT user_id, unnest(doc.items) AS entry FROM previous)
