-- Dependencies unavailable or degraded at a moment, per site, with the evidence: the latest attempts' outcomes, the control plane's link probes, recent failure rates, and a site the control plane failed over from.
-- @param at=null             the moment, any time dvlab parses; null for the latest time in the task history
-- @param site=null           only this site
-- @param window=21600        seconds of attempts a failure rate is taken over
-- @param degraded_rate=0.05  a failure rate at least this high is degraded
WITH
m AS (SELECT dvlab_moment($at) AS at),
outcomes AS (
    -- every attempt's end: a failure (retrying, failed) with its error class, or a success
    SELECT t.service, t.site, tr.ts, tr.to_state <> 'succeeded' AS failed,
           coalesce(tr.reason, '') AS reason,
           dvlab_unavailable_error(tr.reason) AS unavailable,
           dvlab_cut_off_error(tr.reason) AS cut_off
    FROM task_transitions AS tr JOIN tasks AS t USING (task_id), m
    WHERE tr.ts <= m.at AND t.parent_task_id IS NOT NULL
      AND tr.to_state IN ('retrying', 'failed', 'succeeded')
),
service_latest AS (
    SELECT DISTINCT ON (service, site) service, site, failed, unavailable, cut_off, ts, reason
    FROM outcomes WHERE NOT cut_off
    ORDER BY service, site, ts DESC
),
site_latest AS (
    SELECT DISTINCT ON (site) site, cut_off, ts FROM outcomes ORDER BY site, ts DESC
),
probes AS (
    -- the control plane's latest probe of each site's link (site.probe.ok / .failed events)
    SELECT DISTINCT ON (payload ->> 'site') payload ->> 'site' AS site, time,
           regexp_matches(type, '(^|\.)site\.probe\.failed$') AS failed
    FROM events, m
    WHERE regexp_matches(type, '(^|\.)site\.probe\.(ok|failed)$') AND time <= m.at
    ORDER BY payload ->> 'site', time DESC
),
fenced AS (
    -- a site fenced by a failover and not yet given back
    SELECT f.target_id AS site, max(f.finished) AS since
    FROM tasks AS f, m
    WHERE f.attributes ->> 'name' = 'fence_site' AND f.state = 'succeeded' AND f.finished <= m.at
      AND NOT EXISTS (SELECT 1 FROM tasks AS u
                      WHERE u.attributes ->> 'name' = 'unfence_site' AND u.state = 'succeeded'
                        AND u.target_id = f.target_id AND u.finished > f.finished
                        AND u.finished <= m.at)
    GROUP BY f.target_id
),
rates AS (
    SELECT service, site, count(*) AS attempts,
           count(*) FILTER (WHERE failed AND NOT unavailable AND NOT cut_off) AS failures,
           mode(reason) FILTER (WHERE failed AND NOT unavailable AND NOT cut_off) AS usual_error
    FROM outcomes, m
    WHERE ts > m.at - to_seconds($window::BIGINT)
    GROUP BY service, site
),
found AS (
    SELECT service, site, 'unavailable' AS state,
           'latest attempt failed with ' || reason || ' at ' || strftime(timezone('UTC', ts), '%Y-%m-%dT%H:%M:%S.%fZ') AS evidence
    FROM service_latest WHERE failed AND unavailable
    UNION ALL
    SELECT 'control-plane', site, 'unavailable',
           'latest probe of its link failed at '
           || strftime(timezone('UTC', time), '%Y-%m-%dT%H:%M:%S.%fZ')
    FROM probes WHERE failed AND site NOT IN (SELECT site FROM fenced)
    UNION ALL
    -- no probes of the site: its attempts tell
    SELECT 'control-plane', site, 'unavailable',
           'latest attempt at the site timed out reaching the control plane at '
           || strftime(timezone('UTC', ts), '%Y-%m-%dT%H:%M:%S.%fZ')
    FROM site_latest
    WHERE cut_off AND site NOT IN (SELECT site FROM fenced)
      AND site NOT IN (SELECT site FROM probes)
    UNION ALL
    SELECT 'control-plane', site, 'unavailable',
           'site fenced by a failover at ' || strftime(timezone('UTC', since), '%Y-%m-%dT%H:%M:%S.%fZ') || ', not given back yet'
    FROM fenced
    UNION ALL
    SELECT r.service, r.site, 'degraded',
           r.failures || ' of ' || r.attempts || ' attempts failed in the last '
           || ($window::BIGINT // 3600) || ' h (' || round(100.0 * r.failures / r.attempts, 1)
           || ' %), mostly ' || r.usual_error
    FROM rates AS r
    WHERE r.failures >= 3 AND r.failures >= $degraded_rate::DOUBLE * r.attempts
      AND NOT EXISTS (SELECT 1 FROM service_latest AS l
                      WHERE l.service = r.service AND l.site = r.site AND l.failed AND l.unavailable)
)
SELECT service, site, state, evidence FROM found
WHERE $site IS NULL OR site = $site::VARCHAR
ORDER BY site, service
