-- The newest journaled rewrite of an archive file, if a killed run left one.
SELECT rows, bytes, checksum, removed
FROM erasure_rewrites
WHERE uri = %(uri)s
ORDER BY rewrite_id DESC
LIMIT 1
