-- The route, gateway and leaf-node peers NATS servers reported in their saved monitoring responses (/routez, /gatewayz, /leafz), with when each was first and last seen.
-- @param kind=null    only this kind of peer: route, gateway or leafnode
-- @param server=null  only the peers of this server (its name or its server id)
-- @param from=null    start of the window (inclusive), any time dvlab parses; null for no bound
-- @param to=null      end of the window (exclusive); null for no bound
--
-- One row per server, kind, peer and direction. server_name is the server's id when its
-- responses carry no name. A route is outbound on the server that dialled it (did_solicit);
-- a gateway's direction is the side of /gatewayz it is listed on; a leaf node has none.
-- site is the server's cluster or gateway name: the latest one its snapshots of the peer give.
WITH up AS (
    SELECT
        CASE name
            WHEN 'nats_route_up' THEN 'route'
            WHEN 'nats_gateway_up' THEN 'gateway'
            ELSE 'leafnode'
        END AS kind,
        coalesce(labels['server_name'], labels['server_id']) AS server_name,
        site,
        labels['peer'] AS peer,
        labels['direction'] AS direction,
        ts
    FROM metrics
    WHERE name IN ('nats_route_up', 'nats_gateway_up', 'nats_leafnode_up')
      AND ($from IS NULL OR ts >= dvlab_ts($from::VARCHAR))
      AND ($to IS NULL OR ts < dvlab_ts($to::VARCHAR))
      AND ($server IS NULL OR $server::VARCHAR IN (labels['server_name'], labels['server_id']))
)
SELECT
    kind,
    server_name,
    arg_max(site, ts) AS site,
    peer,
    direction,
    min(ts) AS first_seen,
    max(ts) AS last_seen
FROM up
WHERE ($kind IS NULL OR kind = $kind::VARCHAR)
GROUP BY kind, server_name, peer, direction
ORDER BY kind, server_name, peer, direction NULLS FIRST
