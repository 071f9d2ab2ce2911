-- Documents that break a rule of the profile schema, with the first rule broken (DuckDB; the set-based twin of profile_schema.validate_profile).
WITH rules AS (
    SELECT
        user_id,
        CASE
            WHEN doc.user_id IS NULL OR length(doc.user_id) NOT BETWEEN 1 AND $max_id_chars THEN 'user_id is empty or too long'
            WHEN doc.version < 1 OR doc.signals_distilled < 0 THEN 'version or signals_distilled below range'
            WHEN doc.distiller NOT IN ('local', 'gemini') THEN 'unknown distiller'
            WHEN NOT list_contains($personas, doc.persona.label) THEN 'unknown persona label'
            WHEN NOT list_contains($travel_styles, doc.travel_style) THEN 'unknown travel style'
            WHEN doc.activity.daypart IS NOT NULL AND NOT list_contains($dayparts, doc.activity.daypart) THEN 'unknown daypart'
            WHEN list_bool_or([s < 0 OR s > 1 FOR s IN [doc.persona.scores.dreamer, doc.persona.scores.planner,
                 doc.persona.scores.decider, doc.persona.scores.researcher, doc.persona.scores.conversationalist]])
                THEN 'persona score outside [0, 1]'
            WHEN len(doc.interests) > $max_interests OR len(doc.cities) > $max_cities OR len(doc.vibe.scores) > $max_vibes
                 OR len(doc.items) > $max_top_items OR len(doc.saved_items) > $max_items OR len(doc.booked_items) > $max_items OR len(doc.tags) > $max_tags
                THEN 'a list is longer than allowed'
            WHEN list_bool_or([e.weight < 0 OR NOT regexp_full_match(e.topic, $key_pattern) FOR e IN doc.interests])
                OR list_bool_or([e.weight < 0 OR NOT regexp_full_match(e.city, $key_pattern) FOR e IN doc.cities])
                OR list_bool_or([e.weight < 0 OR NOT regexp_full_match(e.vibe, $key_pattern) FOR e IN doc.vibe.scores])
                OR list_bool_or([e.weight < 0 OR NOT regexp_full_match(e.item, $key_pattern) FOR e IN doc.items])
                OR list_bool_or([NOT regexp_full_match(x, $key_pattern) FOR x IN list_concat(doc.saved_items, doc.booked_items)])
                THEN 'a weighted entry or item is out of range or not clean text'
            WHEN list_bool_or([NOT regexp_full_match(t, $tag_pattern) FOR t IN doc.tags]) THEN 'a tag does not match its pattern'
            WHEN len(doc.activity.hours) <> 24 OR list_min(doc.activity.hours) < 0 THEN 'hours are not 24 non-negative numbers'
            WHEN doc.activity.sessions < 0 OR doc.activity.dwell_seconds < 0
                 OR least(doc.engagement.view, doc.engagement.click, doc.engagement.scroll, doc.engagement.dwell,
                          doc.engagement.search, doc.engagement.save, doc.engagement.book, doc.engagement.chat_message) < 0
                THEN 'negative activity or engagement'
            WHEN doc.summary IS NULL OR length(doc.summary) NOT BETWEEN 1 AND $max_summary_chars
                 OR regexp_matches(doc.summary, '[\x00-\x1f\x7f<>]')
                THEN 'summary is empty, too long or not clean text'
        END AS violation
    FROM documents
)
SELECT user_id, violation FROM rules WHERE violation IS NOT NULL ORDER BY user_id
