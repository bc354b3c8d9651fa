-- One row per customer per active day: sessions, page views, intent and friction counts and
-- completed orders. Features add these days up over 7, 30 and 90-day windows, which is far
-- cheaper than counting raw events (and distinct active days) again for every window.
-- grain: profile_id, day
WITH events AS (
    SELECT
        profile_id,
        day,
        count(DISTINCT session_id) FILTER (WHERE source = 'web_events') AS web_sessions,
        count(*) FILTER (WHERE kind = 'session_start') AS app_sessions,
        count(*) FILTER (WHERE kind = 'page_view') AS page_views,
        count(*) FILTER (WHERE kind = 'page_view' AND detail = 'pricing') AS pricing_views,
        count(*) FILTER (WHERE kind = 'page_view' AND detail = 'compare') AS compare_views,
        count(*) FILTER (WHERE kind = 'add_to_cart') AS cart_adds,
        count(*) FILTER (WHERE kind = 'checkout_started') AS checkouts_started,
        count(*) FILTER (WHERE kind = 'feature_used') AS feature_uses,
        count(*) FILTER (WHERE kind = 'onboarding_step_abandoned') AS onboarding_abandoned,
        count(*) FILTER (WHERE kind = 'onboarding_step_completed') AS onboarding_completed,
        count(*) FILTER (WHERE kind = 'retry') AS retries,
        count(*) FILTER (WHERE kind = 'error') AS errors
    FROM staging.stg_events
    GROUP BY profile_id, day
),

orders AS (
    SELECT
        profile_id,
        CAST(order_ts AS DATE) AS day,
        count(DISTINCT order_id) AS orders
    FROM staging.stg_orders
    WHERE status = 'completed'
    GROUP BY profile_id, CAST(order_ts AS DATE)
)

SELECT
    coalesce(e.profile_id, o.profile_id) AS profile_id,
    coalesce(e.day, o.day) AS day,
    coalesce(e.web_sessions, 0) + coalesce(e.app_sessions, 0) AS sessions,
    coalesce(e.page_views, 0) AS page_views,
    coalesce(e.pricing_views, 0) AS pricing_views,
    coalesce(e.compare_views, 0) AS compare_views,
    coalesce(e.cart_adds, 0) AS cart_adds,
    coalesce(e.checkouts_started, 0) AS checkouts_started,
    coalesce(e.feature_uses, 0) AS feature_uses,
    coalesce(e.onboarding_abandoned, 0) AS onboarding_abandoned,
    coalesce(e.onboarding_completed, 0) AS onboarding_completed,
    coalesce(e.retries, 0) AS retries,
    coalesce(e.errors, 0) AS errors,
    coalesce(o.orders, 0) AS orders
FROM events AS e
FULL OUTER JOIN orders AS o ON e.profile_id = o.profile_id AND e.day = o.day
