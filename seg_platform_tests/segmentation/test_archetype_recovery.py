"""Issue 5's acceptance: on the synthetic company the chosen segmentation recovers the planted
archetypes of the month (adjusted Rand index >= 0.8, as `seg-platform evaluate` reports it)."""

import mlflow

from seg_platform import settings
from seg_platform.cli import DEMO_CUSTOMERS, DEMO_MONTHS, DEMO_SEED
from seg_platform.evaluation import evaluate
from seg_platform.runner import run_pipeline
from seg_platform.synthetic.generator import generate
from seg_platform.warehouse import connect


def test_champion_recovers_the_planted_archetypes(home, monkeypatch, capsys):
    # The demo's company: 2,000 customers over 12 months with churn, switches and sign-ups.
    company = home.root / "company"
    generate(DEMO_CUSTOMERS, DEMO_MONTHS, DEMO_SEED, company)
    monkeypatch.setenv(settings.SOURCES_ENV, str(company / "landing" / "sources.yaml"))
    assert run_pipeline(months=1) == 0
    out = capsys.readouterr().out
    assert "2025-12: kmeans_k" in out or "2025-12: ward_k" in out or "2025-12: gmm_k" in out

    segmentation = evaluate(home, company / "truth")["segmentation"]
    assert segmentation["latest_month"] == "2025-12"
    assert segmentation["ari"] >= 0.8
    # Churned persons keep their last archetype in the truth but behave alike (dormant), and
    # fragments of split persons hold only part of a person's behaviour: both score lower.
    assert segmentation["ari_with_churned"] < segmentation["ari"]
    assert segmentation["ari_all_profiles"] < segmentation["ari"]

    # The month's segments come from the registered champion.
    with connect(home.warehouse, read_only=True) as con:
        versions = {
            int(v)
            for (v,) in con.sql(
                "SELECT DISTINCT model_version FROM segmentation.customer_segments"
            ).fetchall()
        }
    mlflow.set_tracking_uri(home.mlflow_tracking_uri)
    champion = mlflow.MlflowClient().get_model_version_by_alias("customer_segmentation", "champion")
    assert versions == {int(champion.version)}
