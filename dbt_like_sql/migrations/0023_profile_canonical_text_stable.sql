-- profile_canonical_text and profile_cities, steadier: only the top interests and cities, and the summary only when a language model wrote it.

-- The `n` heaviest entries of a weighted list (interests, cities), lower-cased, listed by name:
-- tail entries come and go with single signals, and weights only rank, never show.
CREATE FUNCTION profile_top_keys(items json, key text, n integer) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN coalesce(
    (
        SELECT array_agg(DISTINCT name COLLATE "C" ORDER BY name COLLATE "C")
        FROM (
            SELECT lower(item ->> key) AS name
            FROM json_array_elements(items) AS item
            WHERE item ->> key IS NOT NULL
            ORDER BY (item ->> 'weight')::float8 DESC NULLS LAST, lower(item ->> key) COLLATE "C"
            LIMIT n
        ) AS top
    ),
    '{}'
);

CREATE OR REPLACE FUNCTION profile_cities(profile json) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN profile_top_keys(profile -> 'cities', 'city', 3);

-- The local distiller's summary is a template over the facets already here plus a signal count,
-- so it changed with every distillation: only a summary a language model wrote is embedded.
CREATE OR REPLACE FUNCTION profile_canonical_text(profile json) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN concat_ws(
    E'\n',
    'persona: ' || (profile -> 'persona' ->> 'label'),
    'vibe: ' || (profile -> 'vibe' ->> 'label'),
    'travel style: ' || (profile ->> 'travel_style'),
    'interests: ' || nullif(array_to_string(profile_top_keys(profile -> 'interests', 'topic', 5), ', '), ''),
    'cities: ' || nullif(array_to_string(profile_cities(profile), ', '), ''),
    'themes: ' || (
        SELECT string_agg(DISTINCT lower(tag #>> '{}') COLLATE "C", ', ' ORDER BY lower(tag #>> '{}') COLLATE "C")
        FROM json_array_elements(profile -> 'tags') AS tag
    ),
    CASE WHEN profile ->> 'distiller' IS DISTINCT FROM 'local' THEN nullif(btrim(profile ->> 'summary'), '') END
);
