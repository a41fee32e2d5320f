-- PostgreSQL saturation over time: per server and health snapshot, connections in use against max_connections, and the replication lag of its most lagging standby.
-- @param server=null  only this server (host:port, as dvlab snapshot names it)
-- @param site=null    only this site
-- @param from=null    start of the window (inclusive), any time dvlab parses; null for no bound
-- @param to=null      end of the window (exclusive); null for no bound
--
-- From the pg_* rows dvlab snapshot writes. connections is the sum of pg_connections over
-- its states (client backends), active and idle_in_transaction two of them, and
-- used_ratio connections / pg_max_connections. standbys is pg_replication_standbys; of the
-- standbys the snapshot saw (application_name and client_addr), the one with the longest
-- replay lag (seconds, else bytes) gives lag_standby, lag_standby_addr, replay_lag_seconds
-- and replay_lag_bytes (NULL when none reported a lag: no standbys, or all caught up and
-- idle). replay_delay_seconds is a standby's own time since it last replayed a commit (NULL
-- on a primary).
WITH
chosen AS (
    SELECT labels['server'] AS server, site, ts, name, labels, value
    FROM metrics
    WHERE name IN ('pg_connections', 'pg_max_connections', 'pg_replication_standbys',
                   'pg_replication_replay_lag_seconds', 'pg_replication_replay_lag_bytes',
                   'pg_replication_replay_delay_seconds')
      AND ($server IS NULL OR labels['server'] = $server::VARCHAR)
      AND ($site IS NULL OR site = $site::VARCHAR)
      AND ($from IS NULL OR ts >= dvlab_ts($from::VARCHAR))
      AND ($to IS NULL OR ts < dvlab_ts($to::VARCHAR))
),
standbys AS (
    SELECT server, site, ts, labels['application_name'] AS standby,
           labels['client_addr'] AS standby_addr,
           max(value) FILTER (WHERE name = 'pg_replication_replay_lag_seconds') AS lag_seconds,
           max(value) FILTER (WHERE name = 'pg_replication_replay_lag_bytes') AS lag_bytes
    FROM chosen
    WHERE name IN ('pg_replication_replay_lag_seconds', 'pg_replication_replay_lag_bytes')
    GROUP BY ALL
),
worst AS (
    SELECT DISTINCT ON (server, site, ts) *
    FROM standbys
    ORDER BY server, site, ts, lag_seconds DESC NULLS LAST, lag_bytes DESC NULLS LAST, standby,
             standby_addr
),
snapshots AS (
    SELECT server, site, ts,
           sum(value) FILTER (WHERE name = 'pg_connections') AS connections,
           sum(value) FILTER (WHERE name = 'pg_connections' AND labels['state'] = 'active')
               AS active,
           sum(value) FILTER (WHERE name = 'pg_connections'
                                AND labels['state'] = 'idle in transaction')
               AS idle_in_transaction,
           max(value) FILTER (WHERE name = 'pg_max_connections') AS max_connections,
           max(value) FILTER (WHERE name = 'pg_replication_standbys') AS standbys,
           max(value) FILTER (WHERE name = 'pg_replication_replay_delay_seconds')
               AS replay_delay_seconds
    FROM chosen
    GROUP BY ALL
)
SELECT s.server, s.site, s.ts, s.connections, s.active, s.idle_in_transaction,
       s.max_connections, s.connections / nullif(s.max_connections, 0) AS used_ratio,
       s.standbys, w.standby AS lag_standby, w.standby_addr AS lag_standby_addr,
       w.lag_seconds AS replay_lag_seconds,
       w.lag_bytes AS replay_lag_bytes, s.replay_delay_seconds
FROM snapshots AS s
LEFT JOIN worst AS w
  ON w.server IS NOT DISTINCT FROM s.server AND w.site IS NOT DISTINCT FROM s.site
 AND w.ts = s.ts
ORDER BY s.server, s.site NULLS FIRST, s.ts
