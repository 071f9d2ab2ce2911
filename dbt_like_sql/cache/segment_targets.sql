-- What a warm-up generates for one kind: the segments (small ones folded into their city's '*' segment) with the most active users lacking an answer valid past the refresh horizon, and in-demand answers of any locale expiring within it.
WITH sizes AS (
    SELECT persona, city, count(*) AS users, count(*) FILTER (WHERE evidence_day >= %(active_since)s) AS active
    FROM user_segments
    GROUP BY persona, city
),
folded AS (
    SELECT CASE WHEN users < %(min_users)s THEN '*' ELSE persona END AS persona, city, sum(active) AS users
    FROM sizes
    GROUP BY 1, 2
),
top AS (
    SELECT persona, city, users
    FROM folded
    WHERE users > 0
    ORDER BY users DESC, city, persona
    LIMIT %(top)s
),
scope AS (
    SELECT persona, city, locale, state, expires_at, hits
    FROM semantic_cache
    WHERE kind = %(kind)s AND version_hash = %(version_hash)s
),
due_top AS (
    SELECT
        t.persona, t.city, %(locale)s::text AS locale,
        CASE WHEN s.state = 'ready' AND s.expires_at > now() THEN 'refresh' ELSE 'warm' END AS reason
    FROM top AS t
    LEFT JOIN scope AS s ON s.city = t.city AND s.persona = t.persona AND s.locale = %(locale)s
    WHERE s.city IS NULL
       OR (s.state = 'ready' AND s.expires_at <= %(horizon)s)
       OR (s.state = 'pending' AND s.expires_at <= now())
),
in_demand AS (
    SELECT s.persona, s.city, s.locale, 'refresh' AS reason
    FROM scope AS s
    WHERE s.state = 'ready'
      AND s.expires_at > now()
      AND s.expires_at <= %(horizon)s
      AND s.hits >= %(min_hits)s
      AND NOT (s.locale = %(locale)s AND EXISTS (SELECT 1 FROM top AS t WHERE t.city = s.city AND t.persona = s.persona))
)
SELECT persona, city, locale, reason FROM due_top
UNION ALL
SELECT persona, city, locale, reason FROM in_demand
ORDER BY locale, persona, city
