-- One row per customer order: when it was placed, its value, its product categories, and whether
-- it was completed, cancelled or refunded (completed if any of its lines was).
-- grain: profile_id, order_id
SELECT
    profile_id,
    order_id,
    min(order_ts) AS order_ts,
    sum(amount) FILTER (WHERE status = 'completed') AS amount,
    CASE
        WHEN bool_or(status = 'completed') THEN 'completed'
        WHEN bool_or(status = 'refunded') THEN 'refunded'
        ELSE 'cancelled'
    END AS status,
    list_distinct(list(category) FILTER (WHERE status = 'completed' AND category IS NOT NULL))
        AS categories
FROM staging.stg_orders
GROUP BY profile_id, order_id
