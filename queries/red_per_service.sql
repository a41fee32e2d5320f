-- Rate, errors and duration (RED) per service from its spans in a window: requests per second, the share that failed, and duration percentiles.
-- @param from=null     start of the window (inclusive, by span start), any time dvlab parses; null for the first request's start
-- @param to=null       end of the window (exclusive); null to end at the last request's start
-- @param site=null     only spans of this site
-- @param service=null  only this service
--
-- A request is a span where a service takes up work: a server or consumer span, or (for
-- instrumentation that sets no kind, or an internal entry such as a scheduled job) an
-- internal or unspecified span whose parent is not a span of the same service. Client and
-- producer spans are calls out, counted by their callee. rate is requests divided by the
-- window's length in seconds (the same window for every service; NULL when it has no
-- length); an error is a request with status error. p50_ms, p95_ms and p99_ms are the
-- percentiles of duration_ms, interpolated linearly between the two nearest requests
-- (quantile_cont).
WITH
chosen AS (
    SELECT s.*
    FROM spans AS s
    WHERE ($from IS NULL OR s.start_time >= dvlab_ts($from::VARCHAR))
      AND ($to IS NULL OR s.start_time < dvlab_ts($to::VARCHAR))
      AND ($site IS NULL OR s.site = $site::VARCHAR)
      AND ($service IS NULL OR s.service = $service::VARCHAR)
      AND (s.kind IN ('server', 'consumer')
           OR (coalesce(s.kind, 'unspecified') IN ('internal', 'unspecified')
               AND NOT EXISTS (SELECT 1 FROM spans AS p
                               WHERE p.trace_id = s.trace_id AND p.span_id = s.parent_span_id
                                 AND p.service IS NOT DISTINCT FROM s.service)))
),
window_length AS (
    SELECT epoch(coalesce(dvlab_ts($to::VARCHAR), max(start_time))
                 - coalesce(dvlab_ts($from::VARCHAR), min(start_time))) AS seconds
    FROM chosen
)
SELECT c.service,
       count(*) AS requests,
       count(*) / nullif(any_value(w.seconds), 0) AS rate,
       count(*) FILTER (WHERE c.status = 'error') AS errors,
       count(*) FILTER (WHERE c.status = 'error') / count(*) AS error_rate,
       quantile_cont(c.duration_ms, 0.5) AS p50_ms,
       quantile_cont(c.duration_ms, 0.95) AS p95_ms,
       quantile_cont(c.duration_ms, 0.99) AS p99_ms,
       any_value(w.seconds) AS window_seconds
FROM chosen AS c, window_length AS w
GROUP BY c.service
ORDER BY c.service NULLS LAST
