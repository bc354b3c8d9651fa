-- Subscription invoices with the paying person: plan, amount and whether payment succeeded.
-- grain: invoice_id
SELECT
    b.profile_id,
    b.invoice_id,
    b.invoice_ts,
    lower(b.plan) AS plan,
    b.amount,
    lower(b.status) AS status
FROM identity.profiled_billing AS b
WHERE b.profile_id IS NOT NULL
