-- Makes the server re-read its configuration (settings that need no restart take effect).
SELECT pg_reload_conf()
