-- DuckDB macro: how much one signal of a type says about a user's interests (book > save > click > view).
CREATE OR REPLACE MACRO event_weight(event_type) AS CASE event_type
    WHEN 'book' THEN 8.0 WHEN 'save' THEN 4.0 WHEN 'click' THEN 2.0 WHEN 'view' THEN 1.0
    WHEN 'dwell' THEN 1.0 WHEN 'search' THEN 0.5 WHEN 'chat_message' THEN 0.5 WHEN 'scroll' THEN 0.25
    ELSE 0.0 END
