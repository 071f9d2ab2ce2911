-- DuckDB macro: a user-provided key (topic, city, vibe, item) without control characters or markup, at most 80 characters, NULL if empty.
CREATE OR REPLACE MACRO clean_key(value) AS nullif(left(trim(regexp_replace(value, '[\x00-\x1f\x7f<>]', '', 'g')), 80), '')
