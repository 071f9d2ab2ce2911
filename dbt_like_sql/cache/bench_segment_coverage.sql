-- Benchmark: how many segments there are once small ones are folded into their city's '*' segment, and how many users the top ones hold.
WITH sizes AS (
    SELECT persona, city, count(*) AS users FROM user_segments GROUP BY persona, city
),
folded AS (
    SELECT CASE WHEN users < %(min_users)s THEN '*' ELSE persona END AS persona, city, sum(users) AS users
    FROM sizes
    GROUP BY 1, 2
)
SELECT count(*) AS segments, coalesce(sum(users) FILTER (WHERE rank <= %(top)s), 0) AS covered
FROM (SELECT users, row_number() OVER (ORDER BY users DESC) AS rank FROM folded) AS ranked
