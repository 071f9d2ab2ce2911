-- LLM tokens spent on each of the given users since a time, a request's tokens shared evenly by its users.
SELECT u.user_id, sum((l.input_tokens + l.output_tokens)::float8 / cardinality(l.users)) AS tokens
FROM llm_usage AS l, unnest(l.users) AS u(user_id)
WHERE l.created_at >= %(since)s AND u.user_id = ANY(%(users)s)
GROUP BY u.user_id
