-- Support tickets with the person who raised them: when opened and closed, topic, satisfaction.
-- grain: ticket_id
SELECT
    t.profile_id,
    t.ticket_id,
    t.opened_at,
    t.closed_at,
    lower(t.category) AS category,
    t.satisfaction
FROM identity.profiled_support_tickets AS t
WHERE t.profile_id IS NOT NULL
