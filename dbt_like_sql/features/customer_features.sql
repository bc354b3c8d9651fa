-- Customer features as of the end of each month: one row per customer profile known by then,
-- counting only what happened at or before the as-of time. Value, engagement, intent, friction
-- and channel behaviour; the table segmentation and predictions learn from. A feature is null
-- when its source delivered no data at all; every column's meaning is in docs/features.md.
-- grain: profile_id, as_of_date
WITH present AS (
    SELECT
        EXISTS (FROM staging.stg_events WHERE source = 'web_events') AS web,
        EXISTS (FROM staging.stg_events WHERE source = 'app_events') AS app,
        EXISTS (FROM staging.stg_events) AS events,
        EXISTS (FROM staging.stg_orders) AS orders,
        EXISTS (FROM staging.stg_email_events) AS email,
        EXISTS (FROM staging.stg_tickets) AS tickets,
        EXISTS (FROM staging.stg_invoices) AS billing
),

customers AS (
    SELECT profile_id, first_seen
    FROM identity.profiles
    WHERE first_seen <= $as_of
),

-- Each pass reads only the events it needs: all history up to the as-of time for the few
-- lifetime figures, the last 90 days for the windows (a quarter of a year of data), so a month
-- costs a few scans of the staged events, not a per-day rollup of all history.
lifetime AS (
    SELECT
        profile_id,
        max(day) AS last_active,
        count(*) FILTER (WHERE kind = 'onboarding_step_completed') AS onboarding_completed
    FROM staging.stg_events
    WHERE event_ts <= $as_of
    GROUP BY profile_id
),

recent_days AS (
    -- One row per customer and active day of the last 90 days.
    SELECT
        profile_id,
        day,
        count(DISTINCT session_id) + count(*) FILTER (WHERE kind = 'session_start') AS sessions,
        count(*) FILTER (WHERE kind = 'page_view') AS page_views,
        count(*) FILTER (WHERE kind = 'page_view' AND detail = 'pricing') AS pricing_views,
        count(*) FILTER (WHERE kind = 'page_view' AND detail = 'compare') AS compare_views,
        count(*) FILTER (WHERE kind = 'add_to_cart') AS cart_adds,
        count(*) FILTER (WHERE kind = 'checkout_started') AS checkouts_started,
        count(*) FILTER (WHERE kind = 'onboarding_step_abandoned') AS onboarding_abandoned,
        count(*) FILTER (WHERE kind = 'retry') AS retries,
        count(*) FILTER (WHERE kind = 'error') AS errors
    FROM staging.stg_events
    WHERE event_ts > $as_of - INTERVAL 90 DAY AND event_ts <= $as_of
    GROUP BY profile_id, day
),

recent_orders AS (
    SELECT profile_id, CAST(order_ts AS DATE) AS day, count(DISTINCT order_id) AS orders
    FROM staging.stg_orders
    WHERE status = 'completed' AND order_ts > $as_of - INTERVAL 90 DAY AND order_ts <= $as_of
    GROUP BY profile_id, CAST(order_ts AS DATE)
),

active_days AS (
    SELECT
        coalesce(e.profile_id, o.profile_id) AS profile_id,
        coalesce(e.day, o.day) AS day,
        e.* EXCLUDE (profile_id, day),
        coalesce(o.orders, 0) AS orders
    FROM recent_days AS e
    FULL OUTER JOIN recent_orders AS o ON e.profile_id = o.profile_id AND e.day = o.day
),

days AS (
    SELECT
        profile_id,
        max(day) AS last_active,
        CAST(sum(sessions) FILTER (WHERE day > $as_of_date - 7) AS BIGINT) AS sessions_7d,
        CAST(sum(sessions) FILTER (WHERE day > $as_of_date - 30) AS BIGINT) AS sessions_30d,
        CAST(sum(sessions) AS BIGINT) AS sessions_90d,
        count(*) FILTER (WHERE day > $as_of_date - 7) AS active_days_7d,
        count(*) FILTER (WHERE day > $as_of_date - 30) AS active_days_30d,
        count(*) AS active_days_90d,
        count(*) FILTER (WHERE day > $as_of_date - 60 AND day <= $as_of_date - 30)
            AS active_days_prev_30d,
        CAST(sum(page_views) FILTER (WHERE day > $as_of_date - 30) AS BIGINT) AS page_views_30d,
        CAST(sum(pricing_views) FILTER (WHERE day > $as_of_date - 7) AS BIGINT) AS pricing_views_7d,
        CAST(sum(compare_views) FILTER (WHERE day > $as_of_date - 7) AS BIGINT) AS compare_views_7d,
        CAST(sum(cart_adds) FILTER (WHERE day > $as_of_date - 30) AS BIGINT) AS cart_adds_30d,
        count(*) FILTER (WHERE day > $as_of_date - 30 AND checkouts_started > 0 AND orders = 0)
            AS checkouts_abandoned_30d,
        CAST(sum(onboarding_abandoned) AS BIGINT) AS onboarding_abandoned_90d,
        CAST(sum(retries) FILTER (WHERE day > $as_of_date - 30) AS BIGINT) AS retries_30d,
        CAST(sum(errors) FILTER (WHERE day > $as_of_date - 30) AS BIGINT) AS errors_30d
    FROM active_days
    GROUP BY profile_id
),

feature_use AS (
    SELECT
        profile_id,
        count(DISTINCT detail) AS breadth_30d,
        count(*) AS uses_30d
    FROM staging.stg_events
    WHERE kind = 'feature_used' AND detail IS NOT NULL
        AND event_ts > $as_of - INTERVAL 30 DAY AND event_ts <= $as_of
    GROUP BY profile_id
),

purchases AS (
    -- Money is summed as decimals: a float sum depends on row order, and a month's features
    -- must come out byte-identical however many later rows the tables hold.
    SELECT
        profile_id,
        count(DISTINCT order_id) FILTER (WHERE status = 'completed') AS orders_lifetime,
        count(DISTINCT order_id) FILTER (
            WHERE status = 'completed' AND order_ts > $as_of - INTERVAL 90 DAY
        ) AS orders_90d,
        sum(CAST(amount AS DECIMAL(18, 4))) FILTER (WHERE status = 'completed') AS revenue_lifetime,
        sum(CAST(amount AS DECIMAL(18, 4))) FILTER (
            WHERE status = 'completed' AND order_ts > $as_of - INTERVAL 90 DAY
        ) AS revenue_90d,
        min(order_ts) FILTER (WHERE status = 'completed') AS first_purchase,
        max(order_ts) FILTER (WHERE status = 'completed') AS last_purchase,
        count(DISTINCT order_id) FILTER (WHERE status = 'refunded') AS refunds_lifetime,
        count(DISTINCT category) FILTER (WHERE status = 'completed') AS category_breadth
    FROM staging.stg_orders
    WHERE order_ts <= $as_of
    GROUP BY profile_id
),

email_campaigns AS (
    -- Each campaign a customer was sent in the last 90 days: opened (a click counts as an open,
    -- images may be blocked) and clicked by the as-of time.
    SELECT
        profile_id,
        campaign_id,
        bool_or(kind IN ('open', 'click')) AS opened,
        bool_or(kind = 'click') AS clicked
    FROM staging.stg_email_events
    WHERE event_ts <= $as_of AND event_ts > $as_of - INTERVAL 90 DAY
    GROUP BY profile_id, campaign_id
    HAVING bool_or(kind = 'sent')
),

email AS (
    SELECT
        profile_id,
        count(*) AS sends_90d,
        count(*) FILTER (WHERE opened) AS opens_90d,
        count(*) FILTER (WHERE clicked) AS clicks_90d
    FROM email_campaigns
    GROUP BY profile_id
),

email_prior AS (
    -- Rates are shrunk toward the population's rate with the weight of 5 emails, so one opened
    -- email does not make a perfect opener.
    SELECT
        5.0 AS weight,
        coalesce(sum(opens_90d) / nullif(sum(sends_90d), 0), 0) AS open_rate,
        coalesce(sum(clicks_90d) / nullif(sum(sends_90d), 0), 0) AS click_rate
    FROM email
),

unsubscribes AS (
    SELECT profile_id, count(*) AS unsubscribes
    FROM staging.stg_email_events
    WHERE kind = 'unsubscribe' AND event_ts <= $as_of
    GROUP BY profile_id
),

support AS (
    SELECT
        profile_id,
        count(*) AS tickets_90d,
        avg(date_diff('second', opened_at, closed_at)) FILTER (WHERE closed_at <= $as_of) / 3600.0
            AS resolution_hours,
        avg(satisfaction) FILTER (WHERE closed_at <= $as_of) AS satisfaction
    FROM staging.stg_tickets
    WHERE opened_at > $as_of - INTERVAL 90 DAY AND opened_at <= $as_of
    GROUP BY profile_id
),

invoices AS (
    SELECT
        profile_id,
        arg_max(plan, invoice_ts) AS plan,
        sum(CAST(amount AS DECIMAL(18, 4))) FILTER (
            WHERE status = 'paid' AND invoice_ts > $as_of - INTERVAL 30 DAY
        ) AS revenue_30d,
        sum(CAST(amount AS DECIMAL(18, 4))) FILTER (WHERE status = 'paid') AS revenue_lifetime,
        count(*) FILTER (
            WHERE status = 'failed' AND invoice_ts > $as_of - INTERVAL 90 DAY
        ) AS failed_90d
    FROM staging.stg_invoices
    WHERE invoice_ts <= $as_of
    GROUP BY profile_id
)

SELECT
    c.profile_id,
    $as_of_date AS as_of_date,
    -- value
    CASE WHEN present.orders THEN date_diff('day', p.last_purchase, $as_of) END
        AS days_since_last_purchase, -- orders | lifetime | Days since the last completed order; empty if the customer never bought. | nulls <= 1
    CASE WHEN present.orders THEN coalesce(p.orders_90d, 0) END
        AS orders_90d, -- orders | 90d | Completed orders in the last 90 days.
    CASE WHEN present.orders THEN coalesce(p.orders_lifetime, 0) END
        AS orders_lifetime, -- orders | lifetime | Completed orders ever.
    CASE WHEN present.orders THEN CAST(coalesce(p.revenue_90d, 0) AS DOUBLE) END
        AS revenue_90d, -- orders | 90d | Money spent on completed orders in the last 90 days.
    CASE WHEN present.orders THEN CAST(coalesce(p.revenue_lifetime, 0) AS DOUBLE) END
        AS revenue_lifetime, -- orders | lifetime | Money spent on completed orders ever.
    CAST(p.revenue_lifetime AS DOUBLE) / nullif(p.orders_lifetime, 0)
        AS avg_order_value, -- orders | lifetime | Average value of a completed order; empty if the customer never bought. | nulls <= 1
    date_diff('second', p.first_purchase, p.last_purchase) / 86400.0
    / nullif(p.orders_lifetime - 1, 0)
        AS mean_days_between_purchases, -- orders | lifetime | Average days between consecutive completed orders; empty with fewer than two orders. | nulls <= 1
    CASE WHEN present.orders THEN coalesce(p.category_breadth, 0) END
        AS category_breadth, -- orders | lifetime | Distinct product categories bought.
    CASE WHEN present.orders THEN coalesce(p.refunds_lifetime, 0) END
        AS refunds_lifetime, -- orders | lifetime | Orders refunded.
    date_diff('day', c.first_seen, $as_of)
        AS tenure_days, -- all | lifetime | Days since the customer was first seen in any source.
    $as_of_date - greatest(l.last_active, CAST(p.last_purchase AS DATE))
        AS days_since_last_activity, -- web_events, app_events, orders | lifetime | Days since the last visit, app use or order; empty if never active (e.g. only a CRM contact). | nulls <= 1
    -- engagement
    CASE WHEN present.events THEN coalesce(d.sessions_7d, 0) END
        AS sessions_7d, -- web_events, app_events | 7d | Web and app sessions in the last 7 days.
    CASE WHEN present.events THEN coalesce(d.sessions_30d, 0) END
        AS sessions_30d, -- web_events, app_events | 30d | Web and app sessions in the last 30 days.
    CASE WHEN present.events THEN coalesce(d.sessions_90d, 0) END
        AS sessions_90d, -- web_events, app_events | 90d | Web and app sessions in the last 90 days.
    CASE WHEN present.events OR present.orders THEN coalesce(d.active_days_7d, 0) END
        AS active_days_7d, -- web_events, app_events, orders | 7d | Days with a visit, app use or order in the last 7 days.
    CASE WHEN present.events OR present.orders THEN coalesce(d.active_days_30d, 0) END
        AS active_days_30d, -- web_events, app_events, orders | 30d | Days with a visit, app use or order in the last 30 days.
    CASE WHEN present.events OR present.orders THEN coalesce(d.active_days_90d, 0) END
        AS active_days_90d, -- web_events, app_events, orders | 90d | Days with a visit, app use or order in the last 90 days.
    CASE WHEN present.events OR present.orders THEN coalesce(
        (coalesce(d.active_days_30d, 0) - coalesce(d.active_days_prev_30d, 0))
        / nullif(coalesce(d.active_days_30d, 0) + coalesce(d.active_days_prev_30d, 0), 0), 0)
    END AS engagement_velocity, -- web_events, app_events, orders | 30d | Active days in the last 30 days against the 30 before, from -1 (stopped) through 0 (steady) to 1 (new or returning). | range -1..1
    CASE WHEN present.web THEN coalesce(d.page_views_30d, 0) END
        AS page_views_30d, -- web_events | 30d | Website pages viewed in the last 30 days.
    CASE WHEN present.app THEN coalesce(f.breadth_30d, 0) END
        AS feature_breadth_30d, -- app_events | 30d | Distinct product features used in the last 30 days.
    CASE WHEN present.app THEN coalesce(f.uses_30d / nullif(f.breadth_30d, 0), 0) END
        AS feature_depth_30d, -- app_events | 30d | Uses per feature used in the last 30 days (0 if none).
    -- intent
    CASE WHEN present.web THEN coalesce(d.pricing_views_7d, 0) END
        AS pricing_views_7d, -- web_events | 7d | Pricing page views in the last 7 days.
    CASE WHEN present.web THEN coalesce(d.compare_views_7d, 0) END
        AS compare_views_7d, -- web_events | 7d | Competitor comparison page views in the last 7 days.
    CASE WHEN present.web THEN coalesce(d.cart_adds_30d, 0) END
        AS cart_adds_30d, -- web_events | 30d | Products added to the cart in the last 30 days.
    CASE WHEN present.web THEN coalesce(d.checkouts_abandoned_30d, 0) END
        AS checkouts_abandoned_30d, -- web_events | 30d | Days in the last 30 with a checkout started but no order placed (orders count when present).
    -- friction
    CASE WHEN present.app THEN coalesce(d.onboarding_abandoned_90d, 0) END
        AS onboarding_abandoned_90d, -- app_events | 90d | Onboarding steps abandoned in the last 90 days.
    CASE WHEN present.app THEN coalesce(l.onboarding_completed, 0) END
        AS onboarding_completed_lifetime, -- app_events | lifetime | Onboarding steps completed ever.
    CASE WHEN present.app THEN coalesce(d.retries_30d, 0) END
        AS retries_30d, -- app_events | 30d | Actions retried in the app in the last 30 days.
    CASE WHEN present.app THEN coalesce(d.errors_30d, 0) END
        AS errors_30d, -- app_events | 30d | Errors hit in the app in the last 30 days.
    -- channels: email
    CASE WHEN present.email THEN coalesce(m.sends_90d, 0) END
        AS email_sends_90d, -- email_events | 90d | Marketing emails received in the last 90 days.
    (m.opens_90d + ep.weight * ep.open_rate) / (m.sends_90d + ep.weight)
        AS email_open_rate, -- email_events | 90d | Share of the emails of the last 90 days opened, smoothed toward the average for customers with few emails; empty without emails. | nulls <= 1
    (m.clicks_90d + ep.weight * ep.click_rate) / (m.sends_90d + ep.weight)
        AS email_click_rate, -- email_events | 90d | Share of the emails of the last 90 days clicked, smoothed toward the average for customers with few emails; empty without emails. | nulls <= 1
    CASE WHEN present.email THEN coalesce(u.unsubscribes, 0) END
        AS email_unsubscribes, -- email_events | lifetime | Times the customer unsubscribed from marketing email.
    -- channels: support
    CASE WHEN present.tickets THEN coalesce(s.tickets_90d, 0) END
        AS tickets_90d, -- support_tickets | 90d | Support tickets opened in the last 90 days.
    s.resolution_hours
        AS resolution_hours_90d, -- support_tickets | 90d | Mean hours to close the tickets of the last 90 days that are closed; empty without one. | nulls <= 1
    s.satisfaction
        AS satisfaction_90d, -- support_tickets | 90d | Mean satisfaction (1 to 5) of the closed tickets of the last 90 days; empty without a rating. | nulls <= 1; range 1..5
    -- channels: billing
    CASE WHEN present.billing THEN coalesce(i.plan, 'none') END
        AS billing_plan, -- billing | current | Plan of the latest invoice ('none' without invoices). | range ..
    CASE WHEN present.billing THEN CAST(coalesce(i.revenue_30d, 0) AS DOUBLE) END
        AS monthly_revenue, -- billing | 30d | Subscription revenue paid in the last 30 days.
    CASE WHEN present.billing THEN CAST(coalesce(i.revenue_lifetime, 0) AS DOUBLE) END
        AS billing_revenue_lifetime, -- billing | lifetime | Subscription revenue paid ever.
    CASE WHEN present.billing THEN coalesce(i.failed_90d, 0) END
        AS failed_payments_90d -- billing | 90d | Failed subscription payments in the last 90 days.
FROM customers AS c
CROSS JOIN present
CROSS JOIN email_prior AS ep
LEFT JOIN lifetime AS l ON c.profile_id = l.profile_id
LEFT JOIN days AS d ON c.profile_id = d.profile_id
LEFT JOIN feature_use AS f ON c.profile_id = f.profile_id
LEFT JOIN purchases AS p ON c.profile_id = p.profile_id
LEFT JOIN email AS m ON c.profile_id = m.profile_id
LEFT JOIN unsubscribes AS u ON c.profile_id = u.profile_id
LEFT JOIN support AS s ON c.profile_id = s.profile_id
LEFT JOIN invoices AS i ON c.profile_id = i.profile_id
