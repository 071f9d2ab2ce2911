-- Forgets an archive file's journaled rewrites once its record is updated (or when they were never published).
DELETE FROM erasure_rewrites WHERE uri = %(uri)s
