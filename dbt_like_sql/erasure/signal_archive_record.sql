-- A day's archive file as its manifest describes it (read under the day's lock).
SELECT uri, rows, bytes, checksum FROM archive_manifest WHERE day = %(day)s
