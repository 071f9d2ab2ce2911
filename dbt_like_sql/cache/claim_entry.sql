-- Claims a segment's generation: a new pending row, or a takeover of an expired answer or a lapsed claim; no row while another caller's claim is live or a fresh answer exists.
INSERT INTO semantic_cache AS c (city, kind, locale, version_hash, persona, state, claim_token, expires_at)
VALUES (%(city)s, %(kind)s, %(locale)s, %(version_hash)s, %(persona)s, 'pending', %(token)s,
        now() + make_interval(secs => %(lease_s)s))
ON CONFLICT (city, kind, locale, version_hash, persona) DO UPDATE
SET state = 'pending',
    claim_token = excluded.claim_token,
    response = NULL,
    hits = 0,
    created_at = now(),
    expires_at = excluded.expires_at
WHERE c.expires_at <= now()
RETURNING entry_id
