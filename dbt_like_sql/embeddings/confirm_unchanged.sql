-- Moves vectors forward to their profile's new version where the canonical text did not change (weights drifted): no model call.
UPDATE profile_embeddings e
SET profile_version = p.version
FROM user_profiles p
WHERE e.model_id = %(model_id)s
  AND e.user_id = p.user_id
  AND e.profile_version IS DISTINCT FROM p.version
  AND e.content_hash = sha256(convert_to(profile_canonical_text(p.profile), 'UTF8'))
