-- Filesystem fill over time per instance, device and mountpoint (node-exporter metrics), with how fast the used space grows over the window and when at that pace the filesystem is full.
-- @param mountpoint=null  only this mountpoint
-- @param instance=null    only this instance (the scrape target's instance label)
-- @param from=null        start of the window (inclusive), any time dvlab parses; null for no bound
-- @param to=null          end of the window (exclusive); null for no bound
--
-- One row per filesystem and sample time with both node_filesystem_size_bytes and
-- node_filesystem_avail_bytes (the same labels, site and time). used_bytes is size less
-- avail (space unprivileged users cannot have counts as used) and fill is
-- 1 - avail / size. The window figures repeat on each row of a filesystem:
-- growth_bytes_per_second is the least-squares slope of used_bytes against time over the
-- window (regr_slope; NULL with fewer than two sample times); when it is above 0,
-- seconds_to_full is the latest avail_bytes divided by it and full_at the latest sample time
-- plus that, else both are NULL.
WITH
chosen AS (
    SELECT site, map_from_entries(list_sort(map_entries(labels))) AS labels, ts, name, value
    FROM metrics
    WHERE name IN ('node_filesystem_size_bytes', 'node_filesystem_avail_bytes')
      AND ($mountpoint IS NULL OR labels['mountpoint'] = $mountpoint::VARCHAR)
      AND ($instance IS NULL OR labels['instance'] = $instance::VARCHAR)
      AND ($from IS NULL OR ts >= dvlab_ts($from::VARCHAR))
      AND ($to IS NULL OR ts < dvlab_ts($to::VARCHAR))
),
samples AS (
    SELECT site, labels, ts,
           max(value) FILTER (WHERE name = 'node_filesystem_size_bytes') AS size_bytes,
           max(value) FILTER (WHERE name = 'node_filesystem_avail_bytes') AS avail_bytes
    FROM chosen
    GROUP BY ALL
    HAVING size_bytes > 0 AND avail_bytes IS NOT NULL
),
trend AS (
    SELECT *,
           size_bytes - avail_bytes AS used_bytes,
           1 - avail_bytes / size_bytes AS fill,
           regr_slope(size_bytes - avail_bytes, epoch(ts)) OVER f AS growth,
           arg_max(avail_bytes, ts) OVER f AS last_avail,
           max(ts) OVER f AS last_ts
    FROM samples
    WINDOW f AS (PARTITION BY site, labels)
)
SELECT labels['instance'] AS instance, labels['device'] AS device,
       labels['mountpoint'] AS mountpoint, labels['fstype'] AS fstype, site, ts,
       size_bytes, avail_bytes, used_bytes, fill,
       growth AS growth_bytes_per_second,
       CASE WHEN growth > 0 THEN last_avail / growth END AS seconds_to_full,
       -- a disk that would take centuries to fill has no date to be full at
       CASE WHEN growth > 0 AND last_avail / growth < 1e10
            THEN last_ts + to_microseconds((last_avail / growth * 1e6)::BIGINT)
       END AS full_at
FROM trend
ORDER BY instance NULLS FIRST, mountpoint, device, site NULLS FIRST, ts
