-- Serialises erasure runs for as long as this session lives.
SELECT pg_advisory_lock(hashtext('distillery.erasure'))
