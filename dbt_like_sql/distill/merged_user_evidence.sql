-- Old evidence decayed to the newer of the profile's day and this day, plus the new evidence (DuckDB); persona scores and LLM due-ness follow.
CREATE OR REPLACE TEMP TABLE merged_users AS
WITH joined AS (
    SELECT
        n.*,
        p.version AS previous_version,
        p.signals_since_llm AS previous_since_llm,
        p.local_persona AS previous_persona,
        p.llm_distilled_at,
        p.doc,
        -- Half-life decay: evidence loses half its weight every $half_life_days, whichever side is older.
        CASE WHEN p.doc IS NULL THEN 0.0
             ELSE pow(0.5, greatest(date_diff('day', p.doc.evidence_day, $day::DATE), 0) / $half_life_days) END AS old_factor,
        CASE WHEN p.doc IS NULL THEN 1.0
             ELSE pow(0.5, greatest(date_diff('day', $day::DATE, p.doc.evidence_day), 0) / $half_life_days) END AS new_factor
    FROM new_users AS n
    LEFT JOIN previous AS p USING (user_id)
),
merged AS (
    SELECT
        user_id,
        shard,
        coalesce(previous_version, 0) + 1 AS version,
        previous_version,
        greatest(coalesce(doc.evidence_day, $day::DATE), $day::DATE) AS evidence_day,
        coalesce(doc.signals_distilled, 0) + signals AS signals_distilled,
        signals AS new_signals,
        coalesce(previous_since_llm, 0) + signals AS signals_since_llm,
        previous_persona,
        llm_distilled_at,
        old_factor,
        new_factor,
        {
            'view': coalesce(doc.engagement.view, 0) * old_factor + engagement.view * new_factor,
            'click': coalesce(doc.engagement.click, 0) * old_factor + engagement.click * new_factor,
            'scroll': coalesce(doc.engagement.scroll, 0) * old_factor + engagement.scroll * new_factor,
            'dwell': coalesce(doc.engagement.dwell, 0) * old_factor + engagement.dwell * new_factor,
            'search': coalesce(doc.engagement.search, 0) * old_factor + engagement.search * new_factor,
            'save': coalesce(doc.engagement.save, 0) * old_factor + engagement.save * new_factor,
            'book': coalesce(doc.engagement.book, 0) * old_factor + engagement.book * new_factor,
            'chat_message': coalesce(doc.engagement.chat_message, 0) * old_factor + engagement.chat_message * new_factor
        } AS engagement,
        list_transform(range(24), lambda h:
            coalesce(doc.activity.hours[h + 1], 0) * old_factor + hour_counts[h + 1] * new_factor) AS hours,
        coalesce(doc.activity.sessions, 0) * old_factor + sessions * new_factor AS sessions,
        coalesce(doc.activity.dwell_seconds, 0) * old_factor + dwell_seconds * new_factor AS dwell_seconds,
        -- Newest first: a backfilled older day's items go after the profile's own.
        CASE WHEN $day::DATE >= coalesce(doc.evidence_day, $day::DATE)
             THEN list_concat(saved, coalesce(doc.saved_items, [])) ELSE list_concat(coalesce(doc.saved_items, []), saved) END AS saved_all,
        CASE WHEN $day::DATE >= coalesce(doc.evidence_day, $day::DATE)
             THEN list_concat(booked, coalesce(doc.booked_items, [])) ELSE list_concat(coalesce(doc.booked_items, []), booked) END AS booked_all,
        chat
    FROM joined
),
scored AS (
    SELECT
        *,
        -- In the order of profile_schema.PERSONAS: dreamer, planner, decider, researcher, conversationalist.
        [
            engagement.view + 0.5 * engagement.scroll,
            3 * engagement.save + 1.5 * engagement.search,
            6 * engagement.book + 0.5 * engagement.click,
            1.5 * engagement.dwell + 0.5 * engagement.search + dwell_seconds / 120,
            3 * engagement.chat_message
        ] AS raw_scores,
        [list_sum(hours[1:6]), list_sum(hours[7:12]), list_sum(hours[13:18]), list_sum(hours[19:24])] AS dayparts
    FROM merged
)
SELECT
    user_id, shard, version, previous_version, evidence_day, signals_distilled, new_signals, signals_since_llm,
    previous_persona, llm_distilled_at, old_factor, new_factor, engagement, hours, sessions, dwell_seconds, chat,
    engagement.view + engagement.click + engagement.scroll + engagement.dwell + engagement.search
        + engagement.save + engagement.book + engagement.chat_message AS engagement_total,
    list_transform(raw_scores, lambda s: round(s / greatest(list_sum(raw_scores), 1e-9), 3)) AS persona_scores,
    ['dreamer', 'planner', 'decider', 'researcher', 'conversationalist'][list_position(raw_scores, list_max(raw_scores))] AS local_persona,
    CASE WHEN list_max(hours) > 0 THEN list_position(hours, list_max(hours)) - 1 END AS peak_hour,
    CASE WHEN list_max(dayparts) > 0
         THEN ['night', 'morning', 'afternoon', 'evening'][list_position(dayparts, list_max(dayparts))] END AS daypart,
    list_filter(saved_all, lambda x, i: list_position(saved_all, x) = i)[1:$max_items] AS saved_items,
    list_filter(booked_all, lambda x, i: list_position(booked_all, x) = i)[1:$max_items] AS booked_items,
    signals_since_llm >= $llm_signal_threshold
        OR (previous_persona IS NOT NULL AND previous_persona <> local_persona
            AND signals_since_llm >= $llm_min_signals_on_persona_change) AS llm_due
FROM scored
