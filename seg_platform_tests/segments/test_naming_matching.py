"""Names from the data, the playbook, and stable ids across months (pure functions)."""

import numpy as np
import pytest

from seg_platform.segments.matching import lineage, match_clusters
from seg_platform.segments.naming import THEMES, name_segments
from seg_platform.segments.playbook import PlaybookError, action_for, load_playbook

pytestmark = pytest.mark.unit

COLUMNS = sorted({f for t in THEMES for f in t.signature} | {"revenue_90d", "monthly_revenue"})


def z_for(**values) -> np.ndarray:
    row = np.zeros(len(COLUMNS))
    for feature, value in values.items():
        row[COLUMNS.index(feature)] = value
    return row


def test_names_follow_the_distinguishing_features():
    z = np.vstack([
        z_for(pricing_views_7d=2.5, compare_views_7d=2.0),
        z_for(errors_30d=2.0, retries_30d=1.5, onboarding_abandoned_90d=1.0),
        z_for(orders_lifetime=1.5, revenue_lifetime=2.0, revenue_90d=1.5, monthly_revenue=1.0),
        z_for(days_since_last_activity=2.0, sessions_30d=-1.0, revenue_90d=1.2,
              revenue_lifetime=1.5, monthly_revenue=1.0),
        z_for(sessions_30d=2.0, active_days_30d=2.0, feature_breadth_30d=1.5),
    ])  # fmt: skip
    names = [n.name for n in name_segments(z, COLUMNS)]
    assert names == [
        "Pricing-Curious Prospects", "Setup Strugglers", "High-Value Loyalists",
        "Dormant Big Spenders", "Power Users",
    ]  # fmt: skip


def test_names_are_unique_and_never_numbers():
    # Two segments of pricing-curious prospects: the weaker one is qualified by its next theme.
    z = np.vstack([
        z_for(pricing_views_7d=3.0, compare_views_7d=2.5),
        z_for(pricing_views_7d=1.5, compare_views_7d=1.0, tenure_days=-1.2),
        z_for(),  # average on everything: still a name, not "Cluster 2"
    ])  # fmt: skip
    names = [n.name for n in name_segments(z, COLUMNS)]
    assert names[0] == "Pricing-Curious Prospects"
    assert names[1] == "New Pricing-Curious Prospects"
    assert len(set(names)) == 3
    assert not any(n.lower().startswith("cluster") or n.strip().isdigit() for n in names)
    # Deterministic: the same z-scores, the same names.
    assert [n.name for n in name_segments(z, COLUMNS)] == names


def test_playbook_default_and_errors(tmp_path):
    playbook = load_playbook()
    pricing = action_for(playbook, "pricing_curious", high_value=False)
    assert pricing.type == "survey_question"
    assert pricing.text == "What's stopping you from moving forward today?"
    assert action_for(playbook, "loyalist", high_value=True).type == "sales_routing"
    assert action_for(playbook, "loyalist", high_value=False).type == "message"
    assert action_for(playbook, "unknown_theme", high_value=False).key == "default"

    bad = tmp_path / "playbook.yaml"
    bad.write_text("actions:\n  default: {type: fax, channel: paper, text: hi}\n")
    with pytest.raises(PlaybookError, match=r"actions.default.type: Input should be 'message'"):
        load_playbook(bad)
    bad.write_text("actions:\n  dormant: {type: message, channel: email, text: hi}\n")
    with pytest.raises(PlaybookError, match=r"actions: `default` is required"):
        load_playbook(bad)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("actions:\n  default: {type: message, channel: 'e mail', text: hi}",
         r"actions.default.channel: 'e mail' is not a lower_case name"),
        ("actions:\n  default: {type: message, channel: email, text: hi, colour: red}",
         "actions.default.colour: unknown setting; the settings here are: type, channel, text"),
        ("actions:\n  default: {type: message, channel: email}",
         "actions.default.text: required, but missing"),
        ("actions:\n  \"x'; DROP TABLE t; --\": {type: message, channel: email, text: hi}\n"
         "  default: {type: message, channel: email, text: hi}",
         "actions.x'; DROP TABLE t; --: the name .* is not a theme"),
        ("actions:\n  loyalist+vip: {type: message, channel: email, text: hi}\n"
         "  default: {type: message, channel: email, text: hi}",
         r"is not a theme .*optionally with `\+high_value`"),
        ("version: 2\nactions:\n  default: {type: message, channel: email, text: hi}",
         "version: Input should be 1, not 2"),
    ],
)  # fmt: skip
def test_playbook_files_are_typed_with_one_error_format(tmp_path, text, message):
    path = tmp_path / "playbook.yaml"
    path.write_text(text)
    with pytest.raises(PlaybookError, match=message) as error:
        load_playbook(path)
    assert all(line.startswith(f"{path}: ") for line in str(error.value).splitlines())
    assert "pydantic" not in str(error.value)


def test_matching_keeps_ids_and_gives_new_ones():
    rng = np.random.default_rng(0)
    old = rng.normal(0, 10, size=(5, 8))
    old_ids = [0, 1, 2, 3, 7]
    # This month: the same segments, shuffled and nudged, plus one far from everything.
    order = [3, 0, 4, 2, 1]
    new = np.vstack([old[order] + rng.normal(0, 0.3, size=(5, 8)), np.full(8, 80.0)])
    ids, matched, distance = match_clusters(old_ids, old, new, next_id=8)
    assert ids == [3, 0, 7, 2, 1, 8]
    assert matched == [3, 0, 7, 2, 1, None]
    assert all(d < 2 for d in distance[:5]) and distance[5] is None


def test_matching_refuses_a_centre_that_moved_too_far():
    old = np.array([[0.0, 0.0], [10.0, 0.0]])
    new = np.array([[0.1, 0.0], [4.0, 0.0]])  # the second moved 6 away, 3.9 from the first
    ids, matched, _ = match_clusters([4, 5], old, new, next_id=6)
    assert ids == [4, 6] and matched == [4, None]


def test_lineage_records_splits_and_merges():
    # Old 0 splits into 0 and 9; old 1 and 2 merge into 1.
    transitions = {(0, 0): 50, (0, 9): 45, (1, 1): 60, (2, 1): 40, (3, 3): 100}
    out, retired = lineage([0, 9, 1, 3], [0, None, 1, 3], [0, 1, 2, 3], transitions)
    assert out == ["continues", "split from 0", "merged from 1, 2", "continues"]
    assert retired == [2]
