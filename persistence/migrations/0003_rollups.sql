-- 0003_rollups: hourly call statistics per route, campaign and node, for analytics.
--
-- A call is a leg-0 record (the first leg: the caller's leg inbound, the dialled leg of a
-- campaign); later legs (transfers, agent legs) do not count as calls of their own. The hour is
-- the hour (UTC) of ended_at, the partition key, so a time filter prunes partitions.
--   calls       legs with leg = 0
--   answered    those with answered_at set
--   asr         answered / calls; NULL (undefined, not zero) when calls = 0
--   acd_seconds mean billsec of the answered calls, in seconds; NULL when none was answered
-- The view lists only (hour, key) groups that have calls; callgrid_cdr_rollup() lists every
-- hour of a range, with NULL ASR and ACD for an hour without calls.

CREATE VIEW cdr_rollup_hourly AS
SELECT hour,
       CASE WHEN GROUPING(route_id) = 0 THEN 'route'
            WHEN GROUPING(campaign_id) = 0 THEN 'campaign'
            ELSE 'node' END AS dimension,
       COALESCE(route_id::text, campaign_id::text, node) AS dimension_key,
       count(*) AS calls,
       count(answered_at) AS answered,
       round(count(answered_at)::numeric / NULLIF(count(*), 0), 4) AS asr,
       round(avg(billsec_ms) FILTER (WHERE answered_at IS NOT NULL) / 1000.0, 3) AS acd_seconds
FROM (SELECT date_trunc('hour', ended_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour,
             route_id, campaign_id, node, answered_at, billsec_ms
      FROM cdr WHERE leg = 0) AS legs
GROUP BY GROUPING SETS ((hour, route_id), (hour, campaign_id), (hour, node))
HAVING (GROUPING(route_id) = 0 AND route_id IS NOT NULL)
    OR (GROUPING(campaign_id) = 0 AND campaign_id IS NOT NULL)
    OR GROUPING(node) = 0;

-- Every hour in [from_at, to_at) (hours truncated, UTC) for one dimension ('route', 'campaign'
-- or 'node') and key: calls and answered are 0 and asr / acd_seconds NULL for an hour without
-- calls. Reads cdr directly with the time range, so only the partitions of the range are read.
CREATE FUNCTION callgrid_cdr_rollup(from_at timestamptz, to_at timestamptz,
                                    dimension text, dimension_key text)
RETURNS TABLE (hour timestamptz, calls bigint, answered bigint, asr numeric,
               acd_seconds numeric)
LANGUAGE sql STABLE AS $$
  WITH hours AS (
    SELECT generate_series(date_trunc('hour', from_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
                           to_at - interval '1 microsecond', interval '1 hour') AS hour
  ), legs AS (
    SELECT date_trunc('hour', c.ended_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour,
           c.answered_at, c.billsec_ms
    FROM cdr c
    WHERE c.leg = 0
      AND c.ended_at >= date_trunc('hour', from_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
      AND c.ended_at < to_at
      AND CASE dimension
            WHEN 'route' THEN c.route_id::text = dimension_key
            WHEN 'campaign' THEN c.campaign_id::text = dimension_key
            WHEN 'node' THEN c.node = dimension_key
            ELSE false END
  )
  SELECT h.hour,
         count(l.hour) AS calls,
         count(l.answered_at) AS answered,
         round(count(l.answered_at)::numeric / NULLIF(count(l.hour), 0), 4) AS asr,
         round(avg(l.billsec_ms) FILTER (WHERE l.answered_at IS NOT NULL) / 1000.0, 3)
           AS acd_seconds
  FROM hours h LEFT JOIN legs l ON l.hour = h.hour
  GROUP BY h.hour
  ORDER BY h.hour;
$$;
