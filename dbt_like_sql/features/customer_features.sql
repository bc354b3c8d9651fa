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

days AS (
    SELECT
        profile_id,
        max(day) FILTER (WHERE sessions + page_views + feature_uses + orders > 0) AS last_active,
        sum(sessions) FILTER (WHERE day > $as_of_date - 7) AS sessions_7d,
        sum(sessions) FILTER (WHERE day > $as_of_date - 30) AS sessions_30d,
        sum(sessions) FILTER (WHERE day > $as_of_date - 90) AS sessions_90d,
        count(*) FILTER (WHERE day > $as_of_date - 7) AS active_days_7d,
        count(*) FILTER (WHERE day > $as_of_date - 30) AS active_days_30d,
        count(*) FILTER (WHERE day > $as_of_date - 90) AS active_days_90d,
        count(*) FILTER (WHERE day > $as_of_date - 60 AND day <= $as_of_date - 30)
            AS active_days_prev_30d,
        sum(page_views) FILTER (WHERE day > $as_of_date - 30) AS page_views_30d,
        sum(pricing_views) FILTER (WHERE day > $as_of_date - 7) AS pricing_views_7d,
        sum(compare_views) FILTER (WHERE day > $as_of_date - 7) AS compare_views_7d,
        sum(cart_adds) FILTER (WHERE day > $as_of_date - 30) AS cart_adds_30d,
        count(*) FILTER (WHERE day > $as_of_date - 30 AND checkouts_started > 0 AND orders = 0)
            AS checkouts_abandoned_30d,
        sum(onboarding_abandoned) FILTER (WHERE day > $as_of_date - 90)
            AS onboarding_abandoned_90d,
        sum(onboarding_completed) AS onboarding_completed_lifetime,
        sum(retries) FILTER (WHERE day > $as_of_date - 30) AS retries_30d,
        sum(errors) FILTER (WHERE day > $as_of_date - 30) AS errors_30d
    FROM intermediate.int_profile_days
    WHERE day <= $as_of_date
    GROUP BY profile_id
),

feature_use AS (
    SELECT
        profile_id,
        count(DISTINCT feature) AS breadth_30d,
        sum(uses) AS uses_30d
    FROM intermediate.int_feature_days
    WHERE day > $as_of_date - 30 AND day <= $as_of_date
    GROUP BY profile_id
),

purchases AS (
    SELECT
        profile_id,
        count(*) FILTER (WHERE status = 'completed') AS orders_lifetime,
        count(*) FILTER (
            WHERE status = 'completed' AND order_ts > $as_of - INTERVAL 90 DAY
        ) AS orders_90d,
        sum(amount) FILTER (WHERE status = 'completed') AS revenue_lifetime,
        sum(amount) FILTER (
            WHERE status = 'completed' AND order_ts > $as_of - INTERVAL 90 DAY
        ) AS revenue_90d,
        min(order_ts) FILTER (WHERE status = 'completed') AS first_purchase,
        max(order_ts) FILTER (WHERE status = 'completed') AS last_purchase,
        count(*) FILTER (WHERE status = 'refunded') AS refunds_lifetime,
        length(list_distinct(flatten(list(categories)))) AS category_breadth
    FROM intermediate.int_orders
    WHERE order_ts <= $as_of
    GROUP BY profile_id
),

email AS (
    SELECT
        profile_id,
        count(*) AS sends_90d,
        count(*) FILTER (WHERE opened_at <= $as_of) AS opens_90d,
        count(*) FILTER (WHERE clicked_at <= $as_of) AS clicks_90d
    FROM intermediate.int_email_campaigns
    WHERE sent_at > $as_of - INTERVAL 90 DAY AND sent_at <= $as_of
    GROUP BY profile_id
),

email_prior AS (
    -- Rates are shrunk toward the population's rate over all emails sent up to the as-of time,
    -- with the weight of 5 emails, so one opened email does not make a perfect opener. The
    -- all-time rate moves slowly, so the month-to-month drift check is not set off by it.
    SELECT
        5.0 AS weight,
        coalesce(count(opened_at) FILTER (WHERE opened_at <= $as_of) / nullif(count(*), 0), 0)
            AS open_rate,
        coalesce(count(clicked_at) FILTER (WHERE clicked_at <= $as_of) / nullif(count(*), 0), 0)
            AS click_rate
    FROM intermediate.int_email_campaigns
    WHERE sent_at <= $as_of
),

unsubscribes AS (
    SELECT profile_id, count(*) AS unsubscribes
    FROM intermediate.int_email_campaigns
    WHERE unsubscribed_at <= $as_of
    GROUP BY profile_id
),

support AS (
    SELECT
        profile_id,
        count(*) AS tickets_90d,
        avg(date_diff('second', opened_at, closed_at) / 3600.0)
            FILTER (WHERE closed_at <= $as_of) AS resolution_hours,
        avg(satisfaction) FILTER (WHERE closed_at <= $as_of) AS satisfaction
    FROM staging.stg_tickets
    WHERE opened_at > $as_of - INTERVAL 90 DAY AND opened_at <= $as_of
    GROUP BY profile_id
),

invoices AS (
    SELECT
        profile_id,
        arg_max(plan, invoice_ts) AS plan,
        sum(amount) FILTER (
            WHERE status = 'paid' AND invoice_ts > $as_of - INTERVAL 30 DAY
        ) AS revenue_30d,
        sum(amount) FILTER (WHERE status = 'paid') AS revenue_lifetime,
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
    CASE WHEN present.orders THEN coalesce(p.revenue_90d, 0) END
        AS revenue_90d, -- orders | 90d | Money spent on completed orders in the last 90 days.
    CASE WHEN present.orders THEN coalesce(p.revenue_lifetime, 0) END
        AS revenue_lifetime, -- orders | lifetime | Money spent on completed orders ever.
    p.revenue_lifetime / nullif(p.orders_lifetime, 0)
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
    $as_of_date - d.last_active
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
    CASE WHEN present.app THEN coalesce(d.onboarding_completed_lifetime, 0) END
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
    CASE WHEN present.billing THEN coalesce(i.revenue_30d, 0) END
        AS monthly_revenue, -- billing | 30d | Subscription revenue paid in the last 30 days.
    CASE WHEN present.billing THEN coalesce(i.revenue_lifetime, 0) END
        AS billing_revenue_lifetime, -- billing | lifetime | Subscription revenue paid ever.
    CASE WHEN present.billing THEN coalesce(i.failed_90d, 0) END
        AS failed_payments_90d -- billing | 90d | Failed subscription payments in the last 90 days.
FROM customers AS c
CROSS JOIN present
CROSS JOIN email_prior AS ep
LEFT JOIN days AS d ON c.profile_id = d.profile_id
LEFT JOIN feature_use AS f ON c.profile_id = f.profile_id
LEFT JOIN purchases AS p ON c.profile_id = p.profile_id
LEFT JOIN email AS m ON c.profile_id = m.profile_id
LEFT JOIN unsubscribes AS u ON c.profile_id = u.profile_id
LEFT JOIN support AS s ON c.profile_id = s.profile_id
LEFT JOIN invoices AS i ON c.profile_id = i.profile_id
