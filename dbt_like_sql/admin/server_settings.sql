-- Current values of the given server settings, with their units (8kB, MB, ...).
SELECT name, setting || coalesce(unit, '') FROM pg_settings WHERE name = ANY(%s)
