-- JetStream consumer lag over time: per stream, consumer and snapshot, the messages not yet delivered (pending), delivered but not acknowledged (ack_pending), redelivered, and the delivery and redelivery rates since the snapshot before.
-- @param stream=null    only this stream
-- @param consumer=null  only this consumer
-- @param from=null      start of the window (inclusive), any time dvlab parses; null for no bound
-- @param to=null        end of the window (exclusive); null for no bound
--
-- From the nats_consumer_* rows the live NATS source records with each batch (labels
-- stream and consumer) and those saved /jsz responses give (labels account, stream,
-- consumer, and the reporting server: server is its server_name, else its server_id).
-- pending, ack_pending and redelivered are the server's num_pending, num_ack_pending and
-- num_redelivered: redelivered counts the messages awaiting acknowledgement that were
-- delivered more than once. Only the live source records the delivered sequences the
-- rates need (NULL otherwise, and on a consumer's first snapshot):
-- deliveries_per_second is the rise of the consumer's delivered consumer sequence (one per
-- delivery, redeliveries included) over the seconds since the snapshot before, and
-- redeliveries_per_second that rise less the rise of the delivered stream sequence (which
-- moves only for new messages), at least 0. For a consumer filtered to some subjects the
-- stream sequence also skips other subjects' messages, so redeliveries_per_second is then a
-- lower bound. A sequence lower than before means the consumer was made again: the rise is
-- the new value, as a counter reset.
WITH
snapshots AS (
    SELECT labels['account'] AS account,
           labels['stream'] AS stream,
           labels['consumer'] AS consumer,
           coalesce(labels['server_name'], labels['server_id']) AS server,
           ts,
           max(value) FILTER (WHERE name = 'nats_consumer_pending') AS pending,
           max(value) FILTER (WHERE name = 'nats_consumer_ack_pending') AS ack_pending,
           max(value) FILTER (WHERE name = 'nats_consumer_redelivered') AS redelivered,
           max(value) FILTER (WHERE name = 'nats_consumer_delivered_consumer_seq') AS deliveries,
           max(value) FILTER (WHERE name = 'nats_consumer_delivered_stream_seq') AS stream_seq
    FROM metrics
    WHERE name IN ('nats_consumer_pending', 'nats_consumer_ack_pending',
                   'nats_consumer_redelivered', 'nats_consumer_delivered_consumer_seq',
                   'nats_consumer_delivered_stream_seq')
      AND labels['consumer'] IS NOT NULL
      AND ($stream IS NULL OR labels['stream'] = $stream::VARCHAR)
      AND ($consumer IS NULL OR labels['consumer'] = $consumer::VARCHAR)
      AND ($from IS NULL OR ts >= dvlab_ts($from::VARCHAR))
      AND ($to IS NULL OR ts < dvlab_ts($to::VARCHAR))
    GROUP BY ALL
),
rises AS (
    SELECT *,
           epoch(ts - lag(ts) OVER w) AS seconds,
           CASE WHEN deliveries < lag(deliveries) OVER w THEN deliveries
                ELSE deliveries - lag(deliveries) OVER w END AS delivered,
           CASE WHEN stream_seq < lag(stream_seq) OVER w THEN stream_seq
                ELSE stream_seq - lag(stream_seq) OVER w END AS advanced
    FROM snapshots
    WINDOW w AS (PARTITION BY account, stream, consumer, server ORDER BY ts)
)
SELECT account, stream, consumer, server, ts, pending, ack_pending, redelivered,
       delivered / nullif(seconds, 0) AS deliveries_per_second,
       greatest(delivered - advanced, 0) / nullif(seconds, 0) AS redeliveries_per_second
FROM rises
ORDER BY stream, consumer, account NULLS FIRST, server NULLS FIRST, ts
