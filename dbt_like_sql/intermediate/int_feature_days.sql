-- One row per customer, day and product feature used: how often each feature was used that day,
-- for feature breadth (how many distinct features) and depth (uses per feature).
-- grain: profile_id, day, feature
SELECT
    profile_id,
    day,
    detail AS feature,
    count(*) AS uses
FROM staging.stg_events
WHERE kind = 'feature_used' AND detail IS NOT NULL
GROUP BY profile_id, day, detail
