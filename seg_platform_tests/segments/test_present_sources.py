"""Names and actions only from what the data shows (issue 19, point 2 and 3's segment side).

Orders-only companies (the synthetic generator's orders alone, and the real UCI Online Retail
log) are segmented the way the pipeline does (its preprocessing, k-means), then named and
given actions by `build_month` with the channels' real reach from the identity graph.
"""

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.cluster import KMeans

from seg_platform.core.warehouse import connect
from seg_platform.features.catalog import catalog_frame
from seg_platform.segmentation.data import feature_columns, load_features
from seg_platform.segmentation.preprocess import fit_preprocessing
from seg_platform.segments.assets import channel_reach
from seg_platform.segments.build import build_month
from seg_platform.segments.naming import (
    THEME_BY_KEY,
    THEMES,
    name_segments,
    observed_features,
    rfm_name,
)
from seg_platform.segments.playbook import NO_CHANNEL, action_for, load_playbook
from seg_platform.synthetic.company import generate
from seg_platform_tests.conftest import SHARED_DATA
from seg_platform_tests.features.helpers import MODELS, build_all

# Orders alone cannot show product usage, cart behaviour, pricing visits, friction or email.
NOT_FROM_ORDERS = {"power_user", "bargain_hunter", "pricing_curious", "setup_struggler",
                   "email_responsive"}  # fmt: skip
MECHANICAL = r"(?i)\b(High|Low) [A-Z][a-z]+( [A-Za-z0-9]+)* and (High|Low)\b|\d+D\b"
NO_OP = "Keep in the regular newsletter."


def segment(database: Path, as_of: str, k: int, seed: int = 0):
    """One month segmented like the pipeline (its preprocessing, k-means), then built."""
    as_of_date = dt.date.fromisoformat(as_of)
    meanings = {r["feature"]: r["meaning"] for r in catalog_frame(MODELS).to_dicts()}
    playbook = load_playbook()
    with connect(database) as con:
        features = load_features(con, as_of_date)
        columns = feature_columns(features)
        X = features.select(columns).to_numpy().astype(np.float64)
        pipeline = fit_preprocessing(X, None, seed)
        Z = pipeline.transform(X)
        model = KMeans(k, n_init=4, random_state=seed).fit(Z)
        distances = model.transform(Z)
        order = np.argsort(distances, axis=1)
        reach = channel_reach(con, features["profile_id"], playbook.channels)
    built = build_month(
        as_of_date, features["profile_id"], X, columns, model.labels_, order[:, 1],
        distances[np.arange(len(X)), order[:, 0]], None, 1, pipeline.transform, None,
        playbook, meanings, reach=reach,
    )  # fmt: skip
    return built, observed_features(X, columns), reach


def assert_names_and_actions_from_present_sources(profiles: pl.DataFrame, observed: set[str]):
    for row in profiles.iter_rows(named=True):
        theme = THEME_BY_KEY.get(row["theme"])
        if theme is not None:  # a theme names a segment only when a defining feature is shown
            assert set(theme.requires) & observed, (row["name"], theme.key)
        for absent in (t for t in THEMES if not set(t.requires) & observed):
            assert absent.noun not in row["name"], row["name"]
            assert absent.qualifier not in row["name"], row["name"]  # "Deal-Seeking ..." too
        assert not pl.Series([row["name"]]).str.contains(MECHANICAL).item(), row["name"]
        assert row["action"] != NO_OP
        # Deliverable on a channel that reaches the segment, or saying plainly that none does.
        if row["action_deliverable"]:
            assert row["action_channel"] != NO_CHANNEL
            assert row["action_reachable_share"] >= load_playbook().min_reachable_share
        else:
            assert row["action_channel"] == NO_CHANNEL
            assert row["action"].startswith("No reachable channel")


@pytest.fixture(scope="module")
def synthetic_orders_only(tmp_path_factory):
    """The generator's company with only its orders configured (emails on some orders)."""
    root = tmp_path_factory.mktemp("orders_only")
    generate(1500, 6, 11, root / "company")
    landing = root / "company" / "landing"
    (landing / "orders_only.yaml").write_text("version: 1\nsources:\n  orders:\n"
                                              "    path: orders/*.csv*\n")  # fmt: skip
    database = root / "warehouse.duckdb"
    build_all(database, landing / "orders_only.yaml", ["2025-12"])
    return database


def test_orders_only_company_gets_names_and_actions_its_data_supports(synthetic_orders_only):
    built, observed, reach = segment(synthetic_orders_only, "2025-12-31", k=6)
    profiles = built.profiles
    assert not observed & {"sessions_30d", "cart_adds_30d", "pricing_views_7d", "errors_30d"}
    assert_names_and_actions_from_present_sources(profiles, observed)
    assert not set(profiles["theme"]) & NOT_FROM_ORDERS
    assert profiles["name"].n_unique() == profiles.height == 6
    # Orders carry an email for some customers: email reaches them, the app never does.
    assert reach["in_app"].sum() == 0 and 0 < reach["email"].mean() < 1
    assert not (profiles["action_channel"] == "in_app").any()
    deliverable = profiles.filter(pl.col("action_deliverable"))
    assert deliverable.height >= 1 and set(deliverable["action_channel"]) <= {"email", "sales"}


@pytest.mark.skipif(not (SHARED_DATA / "online_retail").exists(), reason="needs ../shared/data")
def test_online_retail_names_from_orders_and_says_no_channel_reaches(online_retail_november):
    built, observed, reach = segment(online_retail_november, "2011-11-30", k=8)
    profiles = built.profiles
    assert_names_and_actions_from_present_sources(profiles, observed)
    assert not set(profiles["theme"]) & NOT_FROM_ORDERS
    assert profiles["name"].n_unique() == profiles.height == 8
    # A CustomerID reaches nobody: no email, phone, app account or CRM id in the log.
    assert all(r.sum() == 0 for r in reach.values())
    assert not profiles["action_deliverable"].any()
    assert (profiles["action_channel"] == NO_CHANNEL).all()
    # What the shop can act on is still said: the intended action follows the reason.
    assert profiles["action"].str.contains("Intended: ").all()


def test_a_theme_needs_a_defining_feature_observed():
    columns = ["orders_90d", "avg_order_value", "active_days_30d", "refunds_lifetime",
               "sessions_30d", "cart_adds_30d", "revenue_90d", "days_since_last_purchase",
               "orders_lifetime"]  # fmt: skip
    # Buys often, small baskets, many active days: the old rule read "Bargain Hunters" or
    # "Power Users" into it though sessions and cart adds were empty (no web or app source).
    z = np.array([[1.5, -1.2, 1.4, 0.0, 0.0, 0.0, 0.2, -0.8, 1.0]])
    observed = set(columns) - {"sessions_30d", "cart_adds_30d"}
    (named,) = name_segments(z, columns, observed)
    assert named.theme not in NOT_FROM_ORDERS
    assert "Bargain" not in named.name and "Power" not in named.name
    # With the web source present and cart adds standing out, the theme is allowed again.
    z_web = np.array([[1.5, -1.2, 1.4, 0.5, 0.0, 2.0, 0.2, -0.8, 1.0]])
    (web,) = name_segments(z_web, columns, set(columns))
    assert web.theme == "bargain_hunter"


@pytest.mark.parametrize(
    ("scores", "buyers", "name", "key"),
    [
        ((1.0, 1.0, 1.2), True, "Recent Regular Big Spenders", "big_spender"),
        ((-1.5, -0.6, -0.4), True, "Lapsed Occasional Light Spenders", "lapsed_buyer"),
        ((0.9, -0.1, 0.0), True, "Recent Buyers", "recent_buyer"),
        ((0.1, 0.0, -0.1), True, "Typical Buyers", "default"),
        ((-0.8, 0.5, np.nan), False, "Lapsed Regular Customers", "lapsed_buyer"),
    ],
)  # fmt: skip
def test_fallback_names_read_as_recency_frequency_and_spend(scores, buyers, name, key):
    assert rfm_name(np.array(scores), buyers) == (name, key)


def test_a_segment_no_theme_fits_is_named_by_what_orders_show():
    columns = ["days_since_last_purchase", "orders_lifetime", "revenue_lifetime", "tenure_days"]
    # Lapsed, few orders, little spend: no theme's score clears the bar, so no feature-name
    # concatenation ("Low Orders Lifetime and ...") but recency, frequency and spend.
    z = np.array([[0.2, -0.6, -0.5, 0.0], [0.0, 0.0, 0.0, 0.0]])
    names = name_segments(z, columns, set(columns))
    assert [n.name for n in names] == ["Occasional Light Spenders", "Typical Buyers"]
    assert [n.theme for n in names] == ["occasional_buyer", "default"]


def test_actions_go_to_a_channel_that_reaches_the_segment():
    playbook = load_playbook()
    # In-app is the preferred channel of power users; without app accounts, email is used.
    by_email = action_for(playbook, "power_user", False, {"email": 0.6, "in_app": 0.0})
    assert by_email.channel == "email" and by_email.deliverable
    assert by_email.reachable_share == 0.6
    # High-value dormant customers go to sales; no CRM id, email or phone: the theme's email
    # action is tried next, and with nobody reachable anywhere the action says so.
    none = action_for(playbook, "dormant", True, {"email": 0.0, "in_app": 0.0, "sales": 0.01})
    assert not none.deliverable and none.channel == NO_CHANNEL
    assert none.text.startswith("No reachable channel") and "sales 1%" in none.text
    # Not measured (pure callers): the preferred action, as before.
    assert action_for(playbook, "power_user", False).channel == "in_app"
    # Every entry of the default playbook does something (no bare "keep in the newsletter").
    assert all(a.text != NO_OP for a in playbook.values())
