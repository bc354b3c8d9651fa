"""Golden test: a hand-made company with a known answer for every feature.

Person A does a bit of everything; B is an anonymous web visitor; C only receives email; D is only
a CRM contact; E appears after the as-of date. Features are as of June 2025 (as-of date
2025-06-30); events after it must not count. Every feature of the catalog has an answer below.
"""

import datetime as dt

import pytest

from seg_platform.core.warehouse import connect
from seg_platform_tests.features.helpers import FEATURES, build_all, write_landing

AS_OF = "2025-06-30"


def web(i, ts, page, session, kind="page_view", anon="c_a", user="u_a", email=""):
    return {
        "event_id": f"w{i}", "event_ts": ts, "anonymous_id": anon, "user_id": user,
        "email": email, "session_id": session, "event_type": kind, "page_path": page,
    }  # fmt: skip


def app(i, ts, name, feature="", step=""):
    return {
        "event_id": f"a{i}", "event_ts": ts, "user_id": "u_a", "device_id": "d_a",
        "event_name": name, "feature": feature, "onboarding_step": step, "platform": "ios",
    }  # fmt: skip


def order(line, order_id, ts, category, amount, status="completed"):
    return {
        "order_line_id": line, "order_id": order_id, "order_ts": ts, "customer_key": "k_a",
        "email": "a@x.com", "category": category, "quantity": 1, "amount": amount,
        "status": status,
    }  # fmt: skip


def mail(i, ts, kind, campaign, email="a@x.com"):
    return {"event_id": f"m{i}", "event_ts": ts, "email": email, "event_type": kind,
            "campaign_id": campaign}  # fmt: skip


TABLES = {
    "web_events": [
        web(1, "2024-12-01 10:00:00", "/signup", "s_first", kind="signup", email="a@x.com"),
        web(2, "2025-04-15 09:00:00", "/", "s0"),
        web(3, "2025-06-20 09:00:00", "/pricing", "s2"),
        web(4, "2025-06-20 09:05:00", "/checkout", "s2", kind="checkout_started"),
        web(5, "2025-06-29 10:00:00", "/pricing", "s1"),
        web(6, "2025-06-29 10:05:00", "/compare/acme", "s1"),
        web(7, "2025-06-29 10:10:00", "/cart", "s1", kind="add_to_cart"),
        web(8, "2025-06-29 10:15:00", "/checkout", "s1", kind="checkout_started"),
        web(9, "2025-07-02 10:00:00", "/pricing", "s3"),  # after the as-of date
        web(10, "2025-06-30 20:00:00", "/blog/x", "s9", anon="c_b", user=""),  # person B
    ],
    "app_events": [
        app(1, "2025-05-10 08:00:00", "session_start"),
        app(2, "2025-05-10 08:01:00", "onboarding_step_completed", step="create_account"),
        app(3, "2025-05-10 08:02:00", "onboarding_step_abandoned", step="connect_data"),
        app(4, "2025-06-10 08:00:00", "feature_used", feature="export_csv"),
        app(5, "2025-06-28 08:00:00", "session_start"),
        app(6, "2025-06-28 08:01:00", "feature_used", feature="dashboard"),
        app(7, "2025-06-28 08:02:00", "feature_used", feature="dashboard"),
        app(8, "2025-06-28 08:03:00", "feature_used", feature="reports"),
        app(9, "2025-06-28 08:04:00", "retry", feature="reports"),
        app(10, "2025-06-28 08:05:00", "error", feature="reports"),
        app(11, "2025-07-01 08:00:00", "error", feature="reports"),  # after
    ],
    "orders": [
        order("L1", "O1", "2025-01-10 10:00:00", "electronics", 100),
        order("L2", "O1", "2025-01-10 10:00:00", "books", 20),
        order("L3", "O2", "2025-05-15 12:00:00", "home", 60),
        order("L4", "O4", "2025-06-05 12:00:00", "toys", 30, status="refunded"),
        order("L5", "O3", "2025-06-29 12:00:00", "apparel", 40),
        order("L6", "O5", "2025-07-05 12:00:00", "garden", 500),  # after
    ],
    "email_events": [
        mail(1, "2025-03-01 09:00:00", "unsubscribe", "c0"),
        mail(2, "2025-06-01 09:00:00", "sent", "c1"),
        mail(3, "2025-06-02 09:00:00", "open", "c1"),
        mail(4, "2025-06-02 09:01:00", "click", "c1"),
        mail(5, "2025-06-15 09:00:00", "sent", "c2"),
        mail(6, "2025-06-20 09:00:00", "sent", "c3"),
        mail(7, "2025-07-01 09:00:00", "open", "c3"),  # after
        mail(8, "2025-06-01 09:00:00", "sent", "c1", email="c@x.com"),  # person C
        mail(9, "2025-06-03 09:00:00", "open", "c1", email="c@x.com"),
    ],
    "support_tickets": [
        {"ticket_id": "T1", "opened_at": "2025-06-10 10:00:00", "closed_at": "2025-06-11 10:00:00",
         "email": "a@x.com", "category": "bug", "satisfaction": 4},
        {"ticket_id": "T2", "opened_at": "2025-06-25 10:00:00", "closed_at": "2025-07-03 10:00:00",
         "email": "a@x.com", "category": "billing", "satisfaction": 2},
    ],
    "billing": [
        {"invoice_id": "I1", "billing_customer_id": "b_a", "email": "a@x.com",
         "invoice_ts": "2025-05-05 00:00:00", "plan": "pro", "amount": 99, "status": "paid"},
        {"invoice_id": "I2", "billing_customer_id": "b_a", "email": "a@x.com",
         "invoice_ts": "2025-06-05 00:00:00", "plan": "pro", "amount": 99, "status": "failed"},
        {"invoice_id": "I3", "billing_customer_id": "b_a", "email": "a@x.com",
         "invoice_ts": "2025-06-06 00:00:00", "plan": "pro", "amount": 99, "status": "paid"},
    ],
    "crm_contacts": [
        {"crm_id": "crm_d", "email": "d@x.com", "first_name": "Dee", "last_name": "Dee",
         "created_at": "2025-02-01 00:00:00"},
        {"crm_id": "crm_e", "email": "e@x.com", "first_name": "Eve", "last_name": "Late",
         "created_at": "2025-08-01 00:00:00"},
    ],
}  # fmt: skip

AS_OF_TS = dt.datetime(2025, 6, 30, 23, 59, 59, 999999)
# Population email rates of the 90 days: sends A 3 + C 1, opens A 1 + C 1, clicks A 1.
OPEN_PRIOR, CLICK_PRIOR = 2 / 4, 1 / 4
NO_ORDERS = {
    "days_since_last_purchase": None, "orders_90d": 0, "orders_lifetime": 0, "revenue_90d": 0,
    "revenue_lifetime": 0, "avg_order_value": None, "mean_days_between_purchases": None,
    "category_breadth": 0, "refunds_lifetime": 0,
}  # fmt: skip
NOTHING = {
    **NO_ORDERS,
    "days_since_last_activity": None, "sessions_7d": 0, "sessions_30d": 0, "sessions_90d": 0,
    "active_days_7d": 0, "active_days_30d": 0, "active_days_90d": 0, "engagement_velocity": 0,
    "page_views_30d": 0, "feature_breadth_30d": 0, "feature_depth_30d": 0, "pricing_views_7d": 0,
    "compare_views_7d": 0, "cart_adds_30d": 0, "checkouts_abandoned_30d": 0,
    "onboarding_abandoned_90d": 0, "onboarding_completed_lifetime": 0, "retries_30d": 0,
    "errors_30d": 0, "email_sends_90d": 0, "email_open_rate": None, "email_click_rate": None,
    "email_unsubscribes": 0, "tickets_90d": 0, "resolution_hours_90d": None,
    "satisfaction_90d": None, "billing_plan": "none", "monthly_revenue": 0,
    "billing_revenue_lifetime": 0, "failed_payments_90d": 0,
}  # fmt: skip
EXPECTED = {
    "A": {
        # O1 (120, Jan 10), O2 (60, May 15), O3 (40, Jun 29) completed; O4 refunded; O5 after.
        "days_since_last_purchase": 1, "orders_90d": 2, "orders_lifetime": 3,
        "revenue_90d": 100, "revenue_lifetime": 220, "avg_order_value": 220 / 3,
        "mean_days_between_purchases": (
            dt.datetime(2025, 6, 29, 12) - dt.datetime(2025, 1, 10, 10)).total_seconds()
            / 86400 / 2,
        "category_breadth": 4, "refunds_lifetime": 1,
        "tenure_days": 211,  # first seen 2024-12-01 (signup)
        "days_since_last_activity": 1,  # Jun 29
        # sessions: web s1 (Jun 29), app Jun 28 | + web s2 (Jun 20) | + web s0, app May 10
        "sessions_7d": 2, "sessions_30d": 3, "sessions_90d": 5,
        # active days: Jun 28, 29 | + Jun 10, 20 | + Apr 15, May 10, May 15 (order)
        "active_days_7d": 2, "active_days_30d": 4, "active_days_90d": 7,
        "engagement_velocity": (4 - 2) / (4 + 2),  # May 10 and 15 are the 30 days before
        "page_views_30d": 3, "feature_breadth_30d": 3, "feature_depth_30d": 4 / 3,
        "pricing_views_7d": 1, "compare_views_7d": 1, "cart_adds_30d": 1,
        "checkouts_abandoned_30d": 1,  # Jun 20; Jun 29's checkout ended in order O3
        "onboarding_abandoned_90d": 1, "onboarding_completed_lifetime": 1,
        "retries_30d": 1, "errors_30d": 1,
        "email_sends_90d": 3,  # c1, c2, c3; c3's open came after the as-of date
        "email_open_rate": (1 + 5 * OPEN_PRIOR) / (3 + 5),
        "email_click_rate": (1 + 5 * CLICK_PRIOR) / (3 + 5),
        "email_unsubscribes": 1,
        "tickets_90d": 2, "resolution_hours_90d": 24.0, "satisfaction_90d": 4.0,  # T2 open then
        "billing_plan": "pro", "monthly_revenue": 99, "billing_revenue_lifetime": 198,
        "failed_payments_90d": 1,
    },
    "B": {
        **NOTHING, "tenure_days": 0, "days_since_last_activity": 0,
        "sessions_7d": 1, "sessions_30d": 1, "sessions_90d": 1,
        "active_days_7d": 1, "active_days_30d": 1, "active_days_90d": 1,
        "engagement_velocity": 1.0, "page_views_30d": 1,
    },
    "C": {
        **NOTHING, "tenure_days": 29, "email_sends_90d": 1,
        "email_open_rate": (1 + 5 * OPEN_PRIOR) / (1 + 5),
        "email_click_rate": (0 + 5 * CLICK_PRIOR) / (1 + 5),
    },
    "D": {**NOTHING, "tenure_days": 149},
}  # fmt: skip
IDENTIFIERS = {"A": ("user_id", "u_a"), "B": ("anonymous_id", "c_b"), "C": ("email", "c@x.com"),
               "D": ("crm_id", "crm_d")}  # fmt: skip


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    root = tmp_path_factory.mktemp("golden")
    database = root / "warehouse.duckdb"
    build_all(database, write_landing(root / "landing", TABLES), ["2025-06"])
    with connect(database) as con:
        profiles = {
            person: con.execute(
                "SELECT profile_id FROM identity.identity_map WHERE id_type = ? AND value = ?",
                list(key),
            ).fetchall()[0][0]
            for person, key in IDENTIFIERS.items()
        }
        frame = con.sql("FROM features.customer_features").pl()
    return profiles, frame


def test_every_catalog_feature_has_a_golden_answer():
    catalog = {e.name for e in FEATURES.catalog}
    assert len(catalog) >= 30
    for person, answers in EXPECTED.items():
        assert set(answers) == catalog, (person, catalog ^ set(answers))


def test_one_row_per_profile_known_at_the_as_of_date(features):
    profiles, frame = features
    assert frame["as_of_date"].unique().to_list() == [dt.date(2025, 6, 30)]
    # A, B, C, D; E's only record is dated August.
    assert sorted(frame["profile_id"].to_list()) == sorted(profiles.values())


@pytest.mark.parametrize("person", sorted(EXPECTED))
def test_features_match_the_hand_computed_answers(features, person):
    profiles, frame = features
    row = frame.filter(frame["profile_id"] == profiles[person]).to_dicts()[0]
    wrong = {
        name: (row[name], want)
        for name, want in EXPECTED[person].items()
        if not (
            row[name] == want
            if want is None or isinstance(want, str)
            else row[name] is not None and row[name] == pytest.approx(want, rel=1e-9)
        )
    }
    assert not wrong, f"person {person}: (got, want) {wrong}"


def test_feature_types_are_plain_numbers(features):
    # Consumers (scikit-learn through NumPy) need int64/float64, not 128-bit or decimal columns.
    _, frame = features
    odd = {c: str(t) for c, t in frame.schema.items() if str(t) not in {"Int64", "Float64"}}
    assert odd == {"profile_id": "String", "as_of_date": "Date", "billing_plan": "String"}


def test_features_doc_is_generated_from_the_sql():
    from seg_platform.features.catalog import catalog_frame, render_features_doc
    from seg_platform_tests.conftest import REPO
    from seg_platform_tests.features.helpers import MODELS

    assert (REPO / "docs" / "features.md").read_text() == render_features_doc(MODELS), (
        "docs/features.md is stale: run `seg-platform docs`"
    )
    catalog = catalog_frame(MODELS)
    assert catalog.height == len(FEATURES.catalog) >= 30
    assert catalog.filter(catalog["meaning"].str.len_chars() < 10).is_empty()
