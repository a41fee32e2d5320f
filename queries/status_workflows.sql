-- Workflows blocked (waiting on an unavailable dependency), retrying (after other errors) or running in reduced mode at a moment, with the task and reason.
-- @param at=null    the moment, any time dvlab parses; null for the latest time in the task history
-- @param site=null  only workflows with a step at this site
WITH
s AS (SELECT * FROM dvlab_task_states(dvlab_moment($at))),
-- one root a workflow: a table without parent_task_id has none of its tasks under another,
-- and the earliest stands for the workflow
roots AS (SELECT * FROM s WHERE parent_task_id IS NULL
          QUALIFY row_number() OVER (PARTITION BY workflow_id ORDER BY created, task_id) = 1),
degraded AS (
    -- the steps workflows announced they go on without (workflow.degraded events)
    SELECT DISTINCT workflow_id, payload ->> 'without' AS step
    FROM events
    WHERE regexp_matches(type, '(^|\.)workflow\.degraded$') AND payload ->> 'without' IS NOT NULL
),
background AS (
    -- tasks their workflow went on without after a first attempt failed on an unavailable
    -- dependency: the workflow said so, or a sibling was created before the task ended
    SELECT DISTINCT x.task_id, x.workflow_id, x.name, x.first_retry_at, x.first_retry_reason,
           x.final_state, x.finished
    FROM s AS x
    WHERE x.first_retry_at IS NOT NULL
      AND dvlab_blocking_error(x.first_retry_reason)
      AND (EXISTS (SELECT 1 FROM degraded AS d
                   WHERE d.workflow_id = x.workflow_id AND d.step = x.name)
           OR EXISTS (SELECT 1 FROM tasks AS y
                      WHERE y.parent_task_id = x.parent_task_id AND y.task_id <> x.task_id
                        AND y.created > x.first_retry_at
                        AND (x.finished IS NULL OR y.created < x.finished)))
),
failover AS (
    -- a site the control plane failed over from: from the failover's start to the failback's.
    -- The site is the one its first step on a site acts on (fencing it); a later step on a
    -- site (resuming scheduling) makes no second failover
    SELECT fence.target_id AS site, fo.created AS since,
           (SELECT min(fb.created) FROM tasks AS fb
            WHERE fb.workflow_type = 'failback' AND fb.parent_task_id IS NULL
              AND fb.created > fo.created) AS until
    FROM tasks AS fo JOIN tasks AS fence
      ON fence.parent_task_id = fo.task_id AND fence.target_kind = 'site'
    WHERE fo.workflow_type = 'failover' AND fo.parent_task_id IS NULL
    QUALIFY row_number() OVER (PARTITION BY fo.task_id ORDER BY fence.created, fence.task_id) = 1
),
modes AS (
    SELECT workflow_id, 'blocked' AS mode, task_id, name, reason, since
    FROM s
    WHERE state = 'retrying'
      AND dvlab_blocking_error(reason)
      AND task_id NOT IN (SELECT task_id FROM background)
    UNION ALL
    SELECT workflow_id, 'retrying', task_id, name, reason, since
    FROM s
    WHERE state = 'retrying'
      AND NOT dvlab_blocking_error(reason)
      AND task_id NOT IN (SELECT task_id FROM background)
    UNION ALL
    -- went on without a step that is still retrying (or that failed for good)
    SELECT b.workflow_id, 'reduced', b.task_id, b.name,
           'going on without ' || b.name || ' (' || b.first_retry_reason || ')', b.first_retry_at
    FROM background AS b JOIN roots AS r USING (workflow_id)
    WHERE r.state = 'running'
      AND NOT (b.final_state = 'succeeded' AND b.finished <= dvlab_moment($at))
    UNION ALL
    SELECT x.workflow_id, 'reduced', x.task_id, x.name,
           'went on after ' || x.name || ' failed (' || coalesce(x.reason, '?') || ')', x.since
    FROM s AS x JOIN roots AS r USING (workflow_id)
    WHERE r.state = 'running' AND x.parent_task_id IS NOT NULL AND x.state = 'failed'
      AND x.task_id NOT IN (SELECT task_id FROM background)
    UNION ALL
    SELECT r.workflow_id, 'reduced', r.task_id, r.name,
           'site ' || f.site || ' failed over: running elsewhere without it', r.created
    FROM roots AS r JOIN failover AS f
      ON r.created >= f.since AND (f.until IS NULL OR r.created < f.until)
    WHERE r.state = 'running'
      AND r.workflow_type NOT IN ('failover', 'failback')
      AND EXISTS (SELECT 1 FROM tasks AS c WHERE c.parent_task_id = r.task_id AND c.site = f.site)
)
SELECT m.workflow_id, r.workflow_type, r.site AS control_site, w.site, m.mode, m.task_id,
       m.name AS task, m.reason, m.since, r.correlation_id
FROM modes AS m
JOIN roots AS r USING (workflow_id)
LEFT JOIN (SELECT workflow_id, string_agg(DISTINCT site, ',' ORDER BY site) AS site FROM s
           WHERE task_id NOT IN (SELECT task_id FROM roots) GROUP BY workflow_id) AS w
  USING (workflow_id)
-- a workflow with steps at several sites is of each of them
WHERE $site IS NULL
   OR EXISTS (SELECT 1 FROM s AS x WHERE x.workflow_id = m.workflow_id
              AND x.task_id NOT IN (SELECT task_id FROM roots) AND x.site = $site::VARCHAR)
ORDER BY m.mode, m.since, m.workflow_id, m.task_id
