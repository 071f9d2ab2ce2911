-- Serves the ready, unexpired answer of the most similar persona within exactly the same scope (city, kind, locale, version) when it is similar enough, and records the request; no row otherwise.
WITH query AS (
    SELECT embedding FROM segment_persona_vectors WHERE model_id = %(embedding_model)s AND text = %(persona_text)s
),
nearest AS MATERIALIZED (
    -- A scope holds few entries (one per persona of one city): an exact scan beats an approximate index.
    SELECT c.entry_id, 1 - (c.embedding <=> q.embedding) AS similarity
    FROM semantic_cache AS c
    CROSS JOIN query AS q
    WHERE c.city = %(city)s
      AND c.kind = %(kind)s
      AND c.locale = %(locale)s
      AND c.version_hash = %(version_hash)s
      AND c.state = 'ready'
      AND c.expires_at > now()
      AND c.embedding_model = %(embedding_model)s
    ORDER BY c.embedding <=> q.embedding, c.entry_id
    LIMIT 1
),
served AS (
    UPDATE semantic_cache AS c
    SET hits = c.hits + 1
    FROM nearest AS n
    WHERE c.entry_id = n.entry_id AND n.similarity >= %(threshold)s AND c.expires_at > now()
    RETURNING c.entry_id, c.persona, c.response, c.expires_at, n.similarity
),
logged AS (
    INSERT INTO semantic_cache_ledger (event, kind, segment_key, entry_id, user_hash, similarity)
    SELECT 'near_hit', %(kind)s, %(segment_key)s, entry_id, hashtextextended(%(user_id)s, 0), similarity FROM served
)
SELECT entry_id, persona, response, expires_at, similarity FROM served
