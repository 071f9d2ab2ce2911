-- Bulk load of one chunk of new vectors (binary COPY).
COPY embedding_staging (user_id, profile_version, content_hash, cities, embedding) FROM STDIN (FORMAT BINARY)
