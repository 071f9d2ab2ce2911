-- Streams a chunk's event_ids into the scratch table.
COPY chunk_event_ids (event_id) FROM STDIN (FORMAT csv)
