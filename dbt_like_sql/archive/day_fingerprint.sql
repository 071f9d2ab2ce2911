-- Row count and order-independent checksum of one day partition: each 64-bit half of every event_id summed (reduced modulo 2^64 by the caller).
SELECT
    count(*) AS rows,
    coalesce(sum(substring(uuid_send(event_id) FROM 1 FOR 8)::bigint::numeric), 0) AS high_sum,
    coalesce(sum(substring(uuid_send(event_id) FROM 9 FOR 8)::bigint::numeric), 0) AS low_sum
FROM {partition}
