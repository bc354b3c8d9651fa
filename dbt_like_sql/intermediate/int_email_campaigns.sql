-- One row per customer per email campaign: when it was sent, first opened, first clicked, and
-- whether it led to an unsubscribe or bounce. A click counts as an open (images may be blocked).
-- grain: profile_id, campaign_id
SELECT
    profile_id,
    campaign_id,
    min(event_ts) FILTER (WHERE kind = 'sent') AS sent_at,
    min(event_ts) FILTER (WHERE kind IN ('open', 'click')) AS opened_at,
    min(event_ts) FILTER (WHERE kind = 'click') AS clicked_at,
    min(event_ts) FILTER (WHERE kind = 'unsubscribe') AS unsubscribed_at,
    min(event_ts) FILTER (WHERE kind = 'bounce') AS bounced_at
FROM staging.stg_email_events
GROUP BY profile_id, campaign_id
