-- Profile versions written for a day whose text contains any of the given LIKE patterns (case-insensitive).
SELECT count(*) AS hits, (array_agg(user_id || ' v' || version ORDER BY user_id, version))[1:5] AS examples
FROM user_profile_versions
WHERE day = %(day)s AND profile::text ILIKE ANY(%(patterns)s)
