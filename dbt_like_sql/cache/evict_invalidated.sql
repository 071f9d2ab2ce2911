-- Deletes entries made under a segment definition that is no longer current (reasoner, prompt, schema, personas or segment rule changed) or for a kind no longer answered.
DELETE FROM semantic_cache AS c
WHERE NOT EXISTS (
    SELECT 1
    FROM unnest(%(kinds)s::text[], %(hashes)s::text[]) AS current (kind, version_hash)
    WHERE current.kind = c.kind AND current.version_hash = c.version_hash
)
