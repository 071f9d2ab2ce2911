-- Streams one shard's new profile versions straight into user_profile_versions.
COPY user_profile_versions (user_id, version, profile, day, distiller, signals, run_id)
FROM STDIN (FORMAT text)
