-- Every receive day with an archive file.
SELECT day FROM archive_manifest ORDER BY day
