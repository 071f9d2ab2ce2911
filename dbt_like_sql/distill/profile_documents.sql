-- Each updated user's new profile document (typed, see assets/profile_schema.py) and the head fields stored beside it (DuckDB).
CREATE OR REPLACE TEMP TABLE documents AS
SELECT
    m.user_id,
    m.shard,
    m.version,
    m.evidence_day,
    m.signals_distilled,
    CASE WHEN i.distiller = 'gemini' THEN 0 ELSE m.signals_since_llm END AS signals_since_llm,
    m.local_persona,
    CASE WHEN i.distiller = 'gemini' THEN $updated_at::TIMESTAMPTZ ELSE m.llm_distilled_at END AS llm_distilled_at,
    m.new_signals AS signals,
    i.distiller,
    {
        'schema': 1,
        'user_id': m.user_id,
        'version': m.version,
        'updated_at': $updated_at,
        'evidence_day': strftime(m.evidence_day, '%Y-%m-%d'),
        'signals_distilled': m.signals_distilled,
        'distiller': i.distiller,
        'persona': {
            'label': i.persona,
            'scores': {
                'dreamer': m.persona_scores[1], 'planner': m.persona_scores[2], 'decider': m.persona_scores[3],
                'researcher': m.persona_scores[4], 'conversationalist': m.persona_scores[5]
            }
        },
        'vibe': {'label': k.vibes[1].vibe, 'scores': coalesce(k.vibes, [])},
        'interests': coalesce(k.interests, []),
        'cities': coalesce(k.cities, []),
        'items': coalesce(k.items, []),
        'travel_style': i.travel_style,
        'activity': {
            'hours': list_transform(m.hours, lambda x: round(x, 2)),
            'peak_hour': m.peak_hour,
            'daypart': m.daypart,
            'sessions': round(m.sessions, 2),
            'dwell_seconds': round(m.dwell_seconds, 2)
        },
        'engagement': {
            'view': round(m.engagement.view, 2), 'click': round(m.engagement.click, 2),
            'scroll': round(m.engagement.scroll, 2), 'dwell': round(m.engagement.dwell, 2),
            'search': round(m.engagement.search, 2), 'save': round(m.engagement.save, 2),
            'book': round(m.engagement.book, 2), 'chat_message': round(m.engagement.chat_message, 2)
        },
        'saved_items': m.saved_items,
        'booked_items': m.booked_items,
        'tags': i.tags,
        'summary': i.summary
    } AS doc
FROM merged_users AS m
JOIN interpretation AS i USING (user_id)
LEFT JOIN merged_keys AS k USING (user_id)
