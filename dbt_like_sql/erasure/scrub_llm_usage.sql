-- Replaces the given users by NULL in the LLM usage ledger: the spend record stays, shared by as many users as before, naming none of them; rows per user.
WITH named AS (
    SELECT l.usage_id, u.user_id
    FROM llm_usage AS l, unnest(l.users) AS u(user_id)
    WHERE l.users && %(users)s::text[] AND u.user_id = ANY(%(users)s::text[])
), scrubbed AS (
    UPDATE llm_usage AS l
    SET users = ARRAY(SELECT CASE WHEN x = ANY(%(users)s::text[]) THEN NULL ELSE x END FROM unnest(l.users) WITH ORDINALITY AS e(x, n) ORDER BY n)
    WHERE l.usage_id IN (SELECT usage_id FROM named)
)
SELECT user_id, count(DISTINCT usage_id) FROM named GROUP BY user_id
