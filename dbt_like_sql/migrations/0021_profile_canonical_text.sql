-- profile_canonical_text(profile) and profile_cities(profile): what a profile is embedded from, built only from its discrete facets.

-- Labels, sets and the summary, never weights, scores or counts: re-weighted or reordered interests
-- give the same text, hence the same hash, and keep their vector. Sets are sorted bytewise (collation "C", the same on every server); a facet
-- that is missing or empty leaves its line out, and a profile with none gives ''.
CREATE FUNCTION profile_canonical_text(profile json) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN concat_ws(
    E'\n',
    'persona: ' || (profile -> 'persona' ->> 'label'),
    'vibe: ' || (profile -> 'vibe' ->> 'label'),
    'travel style: ' || (profile ->> 'travel_style'),
    'interests: ' || (
        SELECT string_agg(DISTINCT lower(interest ->> 'topic') COLLATE "C", ', ' ORDER BY lower(interest ->> 'topic') COLLATE "C")
        FROM json_array_elements(profile -> 'interests') AS interest
    ),
    'cities: ' || (
        SELECT string_agg(DISTINCT lower(city ->> 'city') COLLATE "C", ', ' ORDER BY lower(city ->> 'city') COLLATE "C")
        FROM json_array_elements(profile -> 'cities') AS city
    ),
    'themes: ' || (
        SELECT string_agg(DISTINCT lower(tag #>> '{}') COLLATE "C", ', ' ORDER BY lower(tag #>> '{}') COLLATE "C")
        FROM json_array_elements(profile -> 'tags') AS tag
    ),
    nullif(btrim(profile ->> 'summary'), '')
);

-- The profile's cities, lower-cased and sorted: what filtered similarity search matches on.
CREATE FUNCTION profile_cities(profile json) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN coalesce(
    (
        SELECT array_agg(DISTINCT lower(city ->> 'city') COLLATE "C" ORDER BY lower(city ->> 'city') COLLATE "C")
        FROM json_array_elements(profile -> 'cities') AS city
        WHERE city ->> 'city' IS NOT NULL
    ),
    '{}'
);
