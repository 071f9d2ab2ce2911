-- Rows physically stored in a day's partition whose received_at is outside that day.
SELECT count(*)
FROM {partition}
WHERE received_at < %(day)s::date::timestamp AT TIME ZONE 'UTC'
   OR received_at >= (%(day)s::date + 1)::timestamp AT TIME ZONE 'UTC'
