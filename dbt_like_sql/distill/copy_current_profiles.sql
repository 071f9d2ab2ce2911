-- Streams the current profile and decision state of the given users, in COPY text format (the user id travels inside the document).
COPY (
    SELECT h.version, h.signals_since_llm, h.local_persona, h.llm_distilled_at, v.profile
    FROM user_profile_heads AS h
    JOIN user_profile_versions AS v ON v.user_id = h.user_id AND v.version = h.version
    WHERE h.user_id = ANY(%(users)s)
) TO STDOUT (FORMAT text)
