-- Which of the given tables exist yet (areas of the lifecycle may not be built on this database).
SELECT name FROM unnest(%(names)s::text[]) AS name WHERE to_regclass(name) IS NOT NULL
