"""Say what happened (issue 18): refused links of the duplicate model reach the identity asset's
metadata, the CLI's run summary and the WARN check `probabilistic_links_mostly_used`."""

import re

import dagster as dg

from seg_platform.runner import _print_raw_summary
from seg_platform_tests.identity.test_identity_settings import (
    febrl_landing,  # noqa: F401  (fixture)
    identity_map_metadata,
    materialize,
    needs_febrl,
    with_identity,
)


def refused_share_check(result) -> dg.AssetCheckEvaluation:
    (check,) = [
        c for c in result.get_asset_check_evaluations()
        if c.check_name == "probabilistic_links_mostly_used"
    ]  # fmt: skip
    return check


@needs_febrl
def test_refused_links_are_reported_and_warned_about(home, febrl_landing, capsys):  # noqa: F811
    """Clusters of at most 2 records on Febrl persons with up to 6 records: most of the model's
    links are refused by the clusters' safeguards. The run still succeeds (the check is
    advisory), the check fails with WARN and says by which reason, the asset's metadata and the
    CLI's summary count the refused links; with the defaults the check passes."""
    yaml = with_identity(
        febrl_landing, "  dedup_max_cluster_size: 2\n  max_refused_link_share: 0.05\n", "s.yaml"
    )
    result = materialize(home, yaml)
    assert result.success, [e.message for e in result.get_step_failure_events()]
    check = refused_share_check(result)
    assert not check.passed
    assert check.severity == dg.AssetCheckSeverity.WARN
    observed = check.metadata["observed"].value
    assert observed > check.metadata["threshold"].value == 0.05
    assert "dedup_max_cluster_size" in check.metadata["refused_by_reason"].value

    metadata = identity_map_metadata(result)
    links = metadata["links_by_rule"].value
    probabilistic = [line for line in links.splitlines() if "probabilistic" in line]
    assert probabilistic, links
    assert "dedup_max_cluster_size" in metadata["top_refusal_reasons"].value

    _print_raw_summary(home)
    summary = [line for line in capsys.readouterr().out.splitlines() if "probabilistic" in line]
    assert summary, "no probabilistic links in the run summary"
    found = re.search(r"probabilistic links +([\d,]+): ([\d,]+) used, ([\d,]+) refused", summary[0])
    assert found, summary[0]
    links, used, refused = (int(g.replace(",", "")) for g in found.groups())
    assert links == used + refused and refused > 0
    assert abs(refused / links - observed) < 1e-3
    assert "by the duplicate clusters' safeguards" in summary[0]

    default = materialize(home, febrl_landing)
    assert refused_share_check(default).passed
