-- Which service calls which, from spans: caller and callee pairs with call counts, the callee's error rate and latency.
-- @param from=null     start of the window (inclusive, by the callee span's start), any time dvlab parses; null for no bound
-- @param to=null       end of the window (exclusive); null for no bound
-- @param site=null     only calls whose callee span is at this site
-- @param service=null  only pairs where this service is the caller or the callee
--
-- A call is a span whose parent span (same trace) belongs to another service: the parent's
-- service is the caller, the span's the callee. A span whose parent is not loaded, or
-- either of whose services is unknown, gives no call. errors counts calls whose callee span
-- has status error; avg_ms and p95_ms are of the callee span's duration_ms (p95_ms
-- interpolated linearly between the two nearest calls, quantile_cont).
SELECT p.service AS caller,
       c.service AS callee,
       count(*) AS calls,
       count(*) FILTER (WHERE c.status = 'error') AS errors,
       count(*) FILTER (WHERE c.status = 'error') / count(*) AS error_rate,
       avg(c.duration_ms) AS avg_ms,
       quantile_cont(c.duration_ms, 0.95) AS p95_ms
FROM spans AS c
JOIN spans AS p ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id
WHERE p.service <> c.service
  AND ($from IS NULL OR c.start_time >= dvlab_ts($from::VARCHAR))
  AND ($to IS NULL OR c.start_time < dvlab_ts($to::VARCHAR))
  AND ($site IS NULL OR c.site = $site::VARCHAR)
  AND ($service IS NULL OR $service::VARCHAR IN (p.service, c.service))
GROUP BY caller, callee
ORDER BY calls DESC, caller, callee
