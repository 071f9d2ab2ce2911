-- Moves vectors forward to their profile's new version where the canonical text did not change (weights drifted): no model call, no vector written.
UPDATE profile_embedding_sources s
SET profile_version = moved.version
FROM unnest(%(user_ids)s::text[], %(versions)s::bigint[]) AS moved (user_id, version)
WHERE s.model_id = %(model_id)s AND s.user_id = moved.user_id
