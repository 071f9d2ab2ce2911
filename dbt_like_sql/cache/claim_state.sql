-- A segment's entry state, and whether it is live (an unexpired answer or an unlapsed claim); no row when there is none.
SELECT state, expires_at > now() AS live
FROM semantic_cache
WHERE city = %(city)s
  AND kind = %(kind)s
  AND locale = %(locale)s
  AND version_hash = %(version_hash)s
  AND persona = %(persona)s
