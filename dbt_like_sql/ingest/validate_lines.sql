-- Types every field of a batch of raw signal lines (DuckDB over Arrow `batch_lines(line, part, received_at)`: the line, which input of the batch it came from, when that input was received); reason is NULL for good rows.
WITH decoded AS (
    SELECT line, part, received_at, octet_length(line) AS bytes, try(decode(line)) AS txt
    FROM batch_lines
),
parsed AS (
    SELECT *,
        txt IS NOT NULL AND bytes <= $max_bytes AND json_valid(txt) AS is_json,
        -- The cheap substring test first; the exact (escape-aware) pattern only where it matched.
        txt IS NOT NULL AND (contains(txt, chr(0)) OR (contains(txt, '\u0000')
            AND regexp_matches(txt, '(^|[^\\])(\\\\)*\\u0000'))) AS has_nul
    FROM decoded
),
checked AS (
    SELECT * FROM parsed
    -- Blank lines (a trailing newline, a keep-alive) are not signals; a JSON line never is one,
    -- so only the rare others pay for the trim.
    WHERE is_json OR txt IS NULL OR strlen(trim(txt, chr(9) || chr(10) || chr(13) || ' ')) > 0
),
extracted AS (
    SELECT *,
        CASE WHEN is_json AND NOT has_nul THEN json_type(txt) END AS root_type,
        CASE WHEN is_json AND NOT has_nul THEN json_type(txt, [
            '$.event_id', '$.user_id', '$.session_id', '$.event_type', '$.occurred_at',
            '$.props', '$.props.city', '$.props.item_id', '$.props.dwell_ms'
        ]) END AS t,
        CASE WHEN is_json AND NOT has_nul THEN json_extract_string(txt, [
            '$.event_id', '$.user_id', '$.session_id', '$.event_type', '$.occurred_at',
            '$.props', '$.props.city', '$.props.item_id', '$.props.dwell_ms'
        ]) END AS v,
        -- Exact nesting depth only for the rare lines with enough brackets to be too deep.
        -- Byte lengths: counting characters would walk every line's UTF-8.
        CASE WHEN is_json AND bytes > 2 * $max_depth
                AND bytes - strlen(replace(replace(txt, '{', ''), '[', '')) > $max_depth
            THEN list_reduce(
                list_transform(
                    string_split(regexp_replace(regexp_replace(txt, '"(?:[^"\\]|\\.)*"', '', 'g'), '[^\[\]{}]', '', 'g'), ''),
                    lambda c: CASE WHEN c IN ('{', '[') THEN 1 ELSE -1 END),
                lambda acc, x: {'depth': acc.depth + x, 'deepest': greatest(acc.deepest, acc.depth + x)},
                {'depth': 0, 'deepest': 0}).deepest
            ELSE 0 END AS depth
    FROM checked
),
typed AS (
    SELECT *,
        try_cast(v[1] AS uuid) AS event_uuid,
        CASE WHEN t[5] = 'VARCHAR' THEN try_cast(v[5] AS timestamptz)
             WHEN t[5] IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN try(make_timestamptz(CAST(try_cast(v[5] AS double) * 1000 AS bigint)))
        END AS occurred,
        try_cast(v[9] AS integer) AS dwell
    FROM extracted
),
judged AS (
    SELECT *,
        CASE
            WHEN txt IS NULL THEN 'invalid_utf8'
            WHEN bytes > $max_bytes THEN 'oversize_payload'
            WHEN has_nul THEN 'nul_byte'
            WHEN NOT is_json THEN 'malformed_json'
            WHEN root_type <> 'OBJECT' THEN 'not_an_object'
            WHEN depth > $max_depth THEN 'too_deep'
            WHEN t[1] IS NULL OR t[1] = 'NULL' THEN 'missing_field'
            WHEN t[2] IS NULL OR t[2] = 'NULL' THEN 'missing_field'
            WHEN t[4] IS NULL OR t[4] = 'NULL' THEN 'missing_field'
            WHEN t[5] IS NULL OR t[5] = 'NULL' THEN 'missing_field'
            WHEN t[1] <> 'VARCHAR' THEN 'bad_type'
            WHEN t[2] NOT IN ('VARCHAR', 'BIGINT', 'UBIGINT') THEN 'bad_type'
            WHEN t[3] IS NOT NULL AND t[3] NOT IN ('VARCHAR', 'BIGINT', 'UBIGINT', 'NULL') THEN 'bad_type'
            WHEN t[4] <> 'VARCHAR' THEN 'bad_type'
            WHEN t[6] IS NOT NULL AND t[6] NOT IN ('OBJECT', 'NULL') THEN 'bad_type'
            WHEN t[7] IS NOT NULL AND t[7] NOT IN ('VARCHAR', 'NULL') THEN 'bad_type'
            WHEN t[8] IS NOT NULL AND t[8] NOT IN ('VARCHAR', 'BIGINT', 'UBIGINT', 'NULL') THEN 'bad_type'
            WHEN t[9] IS NOT NULL AND t[9] <> 'NULL' AND (t[9] NOT IN ('BIGINT', 'UBIGINT', 'DOUBLE') OR dwell IS NULL OR dwell < 0) THEN 'bad_type'
            WHEN occurred IS NULL THEN 'bad_type'
            WHEN event_uuid IS NULL THEN 'invalid_event_id'
            WHEN v[2] = '' OR v[3] = '' OR v[8] = '' THEN 'empty_id'
            WHEN length(v[2]) > $max_id_length OR length(v[3]) > $max_id_length
                OR length(v[8]) > $max_id_length OR length(v[7]) > $max_id_length THEN 'id_too_long'
            WHEN NOT list_contains($event_types, v[4]) THEN 'unknown_event_type'
            WHEN occurred > received_at + to_hours($future_tolerance_hours) THEN 'occurred_in_future'
            WHEN occurred < $oldest_occurred_at THEN 'occurred_too_old'
        END AS reason
    FROM typed
)
SELECT
    reason,
    CASE reason
        WHEN 'invalid_utf8' THEN 'line is not valid UTF-8'
        WHEN 'oversize_payload' THEN 'line is ' || bytes || ' bytes; the limit is ' || $max_bytes
        WHEN 'nul_byte' THEN 'line contains a NUL character'
        WHEN 'malformed_json' THEN 'line is not valid JSON'
        WHEN 'not_an_object' THEN 'a signal must be a JSON object, got ' || lower(root_type)
        WHEN 'too_deep' THEN 'JSON nesting depth ' || depth || ' exceeds ' || $max_depth
        WHEN 'missing_field' THEN 'required field ' || CASE
            WHEN t[1] IS NULL OR t[1] = 'NULL' THEN 'event_id'
            WHEN t[2] IS NULL OR t[2] = 'NULL' THEN 'user_id'
            WHEN t[4] IS NULL OR t[4] = 'NULL' THEN 'event_type'
            ELSE 'occurred_at' END || ' is missing'
        WHEN 'bad_type' THEN 'a field has the wrong type or value (event_id ' || coalesce(t[1], '-')
            || ', user_id ' || coalesce(t[2], '-') || ', session_id ' || coalesce(t[3], '-')
            || ', event_type ' || coalesce(t[4], '-') || ', occurred_at ' || coalesce(t[5], '-')
            || ' ' || coalesce(left(v[5], 40), '') || ', props ' || coalesce(t[6], '-')
            || ', props.dwell_ms ' || coalesce(t[9], '-') || ' ' || coalesce(left(v[9], 20), '') || ')'
        WHEN 'invalid_event_id' THEN 'event_id ' || left(v[1], 80) || ' is not a UUID'
        WHEN 'empty_id' THEN 'user_id, session_id and item_id must not be empty'
        WHEN 'id_too_long' THEN 'an id or city is longer than ' || $max_id_length || ' characters'
        WHEN 'unknown_event_type' THEN 'event_type ' || left(v[4], 80) || ' is not one of ' || array_to_string($event_types, ', ')
        WHEN 'occurred_in_future' THEN 'occurred_at ' || occurred || ' is more than ' || $future_tolerance_hours || ' h after receipt'
        WHEN 'occurred_too_old' THEN 'occurred_at ' || occurred || ' is before ' || $oldest_occurred_at
    END AS detail,
    CASE WHEN reason IS NULL THEN NULL WHEN txt IS NULL THEN left(line::varchar, $raw_cap) ELSE left(txt, $raw_cap) END AS raw,
    CAST(event_uuid AS varchar) AS event_id,
    left(v[2], $max_id_length) AS user_id,
    v[3] AS session_id,
    v[4] AS event_type,
    occurred AS occurred_at,
    v[7] AS city,
    v[8] AS item_id,
    dwell AS dwell_ms,
    coalesce(CASE WHEN t[6] = 'OBJECT' THEN v[6] END, '{}') AS props,
    part,
    received_at
FROM judged
