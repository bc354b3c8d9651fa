"""The asset graph as a reviewed text file: any change to keys, groups, dependencies, checks or
partitions fails here with a diff until `UPDATE_SNAPSHOTS=1` rewrites the snapshot.

Check severity is not part of it: a check returns its severity with its result, at run time.
"""

import difflib
import os
from pathlib import Path

import dagster as dg
import pytest

from seg_platform.core.settings import FIRST_MONTH_ENV, current_partitions
from seg_platform.definitions import defs

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.txt"


def describe_partitions(partitions: dg.PartitionsDefinition | None) -> str:
    if partitions is None:
        return "none"
    if isinstance(partitions, dg.TimeWindowPartitionsDefinition):
        # The window, never the keys: the last partition moves with the calendar.
        return (
            f"{type(partitions).__name__} {partitions.cron_schedule!r} "
            f"from {partitions.start:%Y-%m-%d} {partitions.timezone}, "
            f"keys {partitions.fmt!r}, end offset {partitions.end_offset}"
        )
    return type(partitions).__name__


def render(definitions: dg.Definitions) -> str:
    """One block per asset, sorted by key: group, kinds, partitions, upstream assets, checks."""
    graph = definitions.resolve_asset_graph()
    checks_of: dict[dg.AssetKey, list[str]] = {}
    for check_key in graph.asset_check_keys:
        spec = graph.get_check_spec(check_key)
        extra = sorted(key.to_user_string() for key in (d.asset_key for d in spec.additional_deps))
        line = f"{spec.name} ({'blocking' if spec.blocking else 'not blocking'})"
        checks_of.setdefault(spec.asset_key, []).append(
            line + (f", also reads {', '.join(extra)}" if extra else "")
        )
    lines = [
        "# The asset graph of seg_platform.definitions.defs (seg_platform_tests/"
        "test_asset_graph_snapshot.py).",
        "# Rewrite with: UPDATE_SNAPSHOTS=1 pytest seg_platform_tests/test_asset_graph_snapshot.py",
    ]
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        upstream = sorted(parent.to_user_string() for parent in node.parent_keys)
        lines += [
            "",
            key.to_user_string(),
            f"  group: {node.group_name}",
            f"  kinds: {', '.join(sorted(node.kinds))}",
            f"  partitions: {describe_partitions(node.partitions_def)}",
            f"  upstream: {', '.join(upstream) or 'none'}",
            "  checks:",
            *(f"    {check}" for check in sorted(checks_of.get(key, []))),
        ]
    return "\n".join(lines) + "\n"


@pytest.mark.skipif(
    bool(os.environ.get(FIRST_MONTH_ENV)) or current_partitions().span is not None,
    reason=f"the snapshot's partitions start at the default first month ({FIRST_MONTH_ENV} "
    "set, or the platform home holds data)",
)
def test_asset_graph_matches_snapshot():
    current = render(defs)
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(current)
    committed = SNAPSHOT.read_text() if SNAPSHOT.exists() else ""
    diff = "".join(
        difflib.unified_diff(
            committed.splitlines(keepends=True),
            current.splitlines(keepends=True),
            fromfile=f"{SNAPSHOT.name} (committed)",
            tofile=f"{SNAPSHOT.name} (definitions now)",
        )
    )
    if diff:
        pytest.fail(
            "The asset graph changed. If the change is intended, review this diff, rewrite the "
            f"snapshot with UPDATE_SNAPSHOTS=1 and commit it with the change:\n{diff}",
            pytrace=False,
        )


# The asset groups in flow order (DESIGN.md): an asset depends only on its own or earlier groups.
FLOW = [
    "raw",
    "identity",
    "privacy",
    "staging",
    "features",
    "segmentation",
    "segments",
    "predictions",
    "activation",
    "serving",  # the profile service's snapshot: reads the tables of every group before it
]


def test_no_asset_depends_on_a_later_group():
    graph = defs.resolve_asset_graph()
    against = set()
    for key in graph.get_all_asset_keys():
        group = graph.get(key).group_name
        assert group in FLOW, f"{key.to_user_string()}: place group {group!r} in FLOW"
        for parent in graph.get(key).parent_keys:
            if FLOW.index(graph.get(parent).group_name) > FLOW.index(group):
                against.add((parent.to_user_string(), key.to_user_string()))
    assert not sorted(against), "dependencies against the flow (upstream, downstream)"
