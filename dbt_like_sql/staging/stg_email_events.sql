-- Marketing email events (sent, open, click, unsubscribe, bounce) with the person they reached.
-- grain: event_id
SELECT
    m.profile_id,
    m.event_id,
    m.event_ts,
    lower(m.event_type) AS kind,
    coalesce(m.campaign_id, 'day:' || CAST(m.event_ts AS DATE)) AS campaign_id
FROM identity.profiled_email_events AS m
WHERE m.profile_id IS NOT NULL
