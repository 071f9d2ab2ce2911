-- Every ready answer with the scope it is stored under.
SELECT entry_id, persona, city, kind, locale, response::text
FROM semantic_cache
WHERE state = 'ready'
ORDER BY entry_id
