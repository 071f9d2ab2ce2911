-- Keeps rejected profile versions aside with their reason, so they are retried only when the profile changes.
INSERT INTO embedding_rejects (user_id, model_id, profile_version, reason)
SELECT user_id, %(model_id)s, profile_version, reason
FROM unnest(%(user_ids)s::text[], %(versions)s::bigint[], %(reasons)s::text[]) AS r (user_id, profile_version, reason)
ON CONFLICT (user_id, model_id) DO UPDATE
SET profile_version = excluded.profile_version, reason = excluded.reason, rejected_at = now()
