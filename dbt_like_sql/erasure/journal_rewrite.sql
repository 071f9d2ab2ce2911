-- Records what a rewritten archive file holds before it replaces the old one.
INSERT INTO erasure_rewrites (uri, rows, bytes, checksum, removed)
VALUES (%(uri)s, %(rows)s, %(bytes)s, %(checksum)s, %(removed)s)
