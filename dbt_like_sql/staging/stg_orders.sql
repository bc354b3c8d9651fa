-- Shop order lines with the person who ordered; a line without a status counts as completed.
-- grain: order_line_key
SELECT
    o.profile_id,
    coalesce(o.order_line_id, o.source_file || ':' || o.source_row) AS order_line_key,
    o.order_id,
    o.order_ts,
    coalesce(lower(o.status), 'completed') AS status,
    o.category,
    o.amount
FROM identity.profiled_orders AS o
WHERE o.profile_id IS NOT NULL
