-- Event ids of a day stored twice: repeated within the partition, or not owned by this day in the ledger (so stored on another day too).
WITH day_rows AS (
    SELECT event_id FROM {partition}
),
repeated AS (
    SELECT event_id FROM day_rows GROUP BY event_id HAVING count(*) > 1
),
foreign_owned AS (
    SELECT d.event_id
    FROM day_rows AS d
    LEFT JOIN signal_ledger AS l USING (event_id)
    WHERE l.received_on IS DISTINCT FROM %(day)s::date
)
SELECT count(DISTINCT event_id), (array_agg(DISTINCT event_id::text))[1:5]
FROM (SELECT event_id FROM repeated UNION ALL SELECT event_id FROM foreign_owned) AS offenders
