-- Every web and app event with the person behind it: what each customer did, when, and where
-- (page type, feature, onboarding step). The behaviour stream the engagement, intent and
-- friction features are counted from.
-- grain: source, event_id
SELECT
    e.profile_id,
    'web_events' AS source,
    e.event_id,
    e.event_ts,
    CAST(e.event_ts AS DATE) AS day,
    coalesce(lower(e.event_type), 'page_view') AS kind,
    CASE
        WHEN e.page_path LIKE '/pricing%' THEN 'pricing'
        WHEN e.page_path LIKE '/compare%' THEN 'compare'
        WHEN e.page_path LIKE '/cart%' THEN 'cart'
        WHEN e.page_path LIKE '/checkout%' THEN 'checkout'
        WHEN e.page_path LIKE '/product%' THEN 'product'
        WHEN e.page_path LIKE '/blog%' THEN 'blog'
        ELSE 'other'
    END AS detail,
    coalesce(e.session_id, e.anonymous_id || ':' || CAST(e.event_ts AS DATE)) AS session_id
FROM identity.profiled_web_events AS e
WHERE e.profile_id IS NOT NULL
UNION ALL
SELECT
    a.profile_id,
    'app_events' AS source,
    a.event_id,
    a.event_ts,
    CAST(a.event_ts AS DATE) AS day,
    lower(a.event_name) AS kind,
    coalesce(a.feature, a.onboarding_step) AS detail,
    NULL AS session_id
FROM identity.profiled_app_events AS a
WHERE a.profile_id IS NOT NULL
