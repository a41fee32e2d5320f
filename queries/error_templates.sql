-- The most frequent error messages (error or fatal) in a window, grouped by template: UUIDs, hex, IPv4 addresses and numbers masked.
-- @param from=null     start of the window (inclusive), any time dvlab parses; null for no bound
-- @param to=null       end of the window (exclusive); null for no bound
-- @param site=null     only this site
-- @param service=null  only this service
-- @param limit=20      at most this many templates, the most frequent first
--
-- Masks, applied in this order: a UUID becomes <uuid>; 0x followed by hex digits
-- becomes <hex>; a dotted IPv4 address becomes <ip>; a free-standing run of 8 or
-- more decimal digits becomes <num>; a free-standing run of 8 or more hex digits
-- (so one with a letter a-f in it) becomes <hex>; any other number, with or
-- without a fraction, becomes <num>. So "id 12345678" and "id 42" share a template.
WITH masked AS (
    SELECT
        ts,
        service,
        source,
        line,
        message,
        regexp_replace(message, '[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}', '<uuid>', 'g') AS step_uuid,
        regexp_replace(step_uuid, '\b0[xX][0-9A-Fa-f]+', '<hex>', 'g') AS step_0x,
        regexp_replace(step_0x, '\b(?:\d{1,3}\.){3}\d{1,3}\b', '<ip>', 'g') AS step_ip,
        regexp_replace(step_ip, '\b\d{8,}\b', '<num>', 'g') AS step_long_number,
        regexp_replace(step_long_number, '\b[0-9A-Fa-f]{8,}\b', '<hex>', 'g') AS step_hex,
        regexp_replace(step_hex, '\d+(?:\.\d+)?', '<num>', 'g') AS template
    FROM logs
    WHERE level IN ('error', 'fatal')
      AND ($from IS NULL OR ts >= dvlab_ts($from::VARCHAR))
      AND ($to IS NULL OR ts < dvlab_ts($to::VARCHAR))
      AND ($site IS NULL OR site = $site::VARCHAR)
      AND ($service IS NULL OR service = $service::VARCHAR)
)
SELECT
    template,
    count(*) AS events,
    min(ts) AS first_seen,
    max(ts) AS last_seen,
    string_agg(DISTINCT service, ', ' ORDER BY service) AS services,
    first(message ORDER BY ts, source, line) AS example
FROM masked
GROUP BY template
ORDER BY events DESC, first_seen, template
LIMIT $limit::BIGINT
