-- What is running at a moment: tasks in the middle of an attempt, with their workflow, target and how long the attempt has run.
-- @param at=null    the moment, any time dvlab parses; null for the latest time in the task history
-- @param site=null  only tasks of this site
SELECT task_id, workflow_id, workflow_type, name, site, service, target_kind, target_id,
       attempt, since, dvlab_moment($at) - since AS running_for, correlation_id
FROM dvlab_task_states(dvlab_moment($at))
WHERE state = 'running' AND ($site IS NULL OR site = $site::VARCHAR)
ORDER BY since, task_id
