"""Benchmark: person-record deduplication, the platform against Splink's febrl3 tutorial model.

    python benchmarks/identity_person_records.py --files dataset3 dataset1 dataset2

For each Febrl file (/work/shared/data/febrl, ground truth in rec_id: `rec-N-org` and
`rec-N-dup-k` are person N), side by side, pairwise precision / recall / F1:

1. Splink's febrl3 example (splink docs/demos/examples/duckdb/febrl3.ipynb), run with the Splink 5
   API on DuckDB, on the columns the platform receives: the example without soc_sec_id (its
   blocking rule, deterministic rule and comparison dropped), because the crm_contacts contract
   has no slot for it;
2. the same example as published, all columns (with soc_sec_id), for reference;
3. the platform: the file as a crm_contacts landing folder, raw asset + identity graph
   materialized in-process in a fresh warehouse, profiles read from identity.record_profiles.

With `--messy-crm SEED ...`, the platform also runs on the generator's duplicate-heavy CRM
(seg_platform/synthetic/duplicate_crm.py: `--crm-persons` persons, 4-20 records for the
duplicated ones, typos, nicknames, households, namesakes), scored against its truth.

Splink rows are scored twice: the clusters of `cluster_pairwise_predictions_at_threshold` at the
example's threshold (every pair inside a cluster is predicted), and the raw predicted pairs.
Seconds are wall time in this process (the platform's include Dagster's run machinery).
Nothing is downloaded.
"""

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # seg_platform_tests is not an installed package

from common import work_folder  # noqa: E402  (benchmarks/ is on sys.path)

from seg_platform_tests.identity.person_records import (  # noqa: E402
    pairwise_from_clusters,
    pairwise_from_pairs,
    read_febrl,
    run_platform,
    true_pair_count,
    write_crm_landing,
)

FEBRL = REPO.parent / "shared" / "data" / "febrl"
FILES = ("dataset1", "dataset2", "dataset3")
# The example's prediction threshold (`predict(threshold_match_probability=0.2)`); the example
# stops at pairs, so its clusters are taken at the same probability.
TUTORIAL_THRESHOLD = 0.2


def splink_tutorial_model(
    frame: pl.DataFrame, with_soc_sec_id: bool, max_iterations: int, threshold: float
) -> dict:
    """Train and run Splink's febrl3 example model on `frame`; predictions and clusters.

    The example, step by step: blocking for predictions on soc_sec_id, given_name, surname,
    date_of_birth, postcode (one rule each); comparisons NameComparison(given_name),
    NameComparison(surname), DateOfBirthComparison(date_of_birth, string %Y%m%d),
    DamerauLevenshteinAtThresholds(soc_sec_id, [2]), ExactMatch(street_number) and
    ExactMatch(postcode) with term-frequency adjustments; the prior from deterministic rules
    (soc_sec_id; given_name+surname+date_of_birth; names swapped + date_of_birth) at recall
    0.9; u by random sampling (max_pairs 1e6, seed 2); m by EM blocked on date_of_birth, then
    on postcode; predict at 0.2. Without soc_sec_id its three uses are left out.
    """
    import duckdb
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    logging.getLogger("splink").setLevel(logging.WARNING)
    if not with_soc_sec_id:
        frame = frame.drop("soc_sec_id")
    con = duckdb.connect()
    con.register("febrl_input", frame.to_arrow())
    db_api = DuckDBAPI(connection=con)

    start = time.perf_counter()
    blocking = [
        *([block_on("soc_sec_id")] if with_soc_sec_id else []),
        block_on("given_name"),
        block_on("surname"),
        block_on("date_of_birth"),
        block_on("postcode"),
    ]
    comparisons = [
        cl.NameComparison("given_name"),
        cl.NameComparison("surname"),
        cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d"),
        *([cl.DamerauLevenshteinAtThresholds("soc_sec_id", [2])] if with_soc_sec_id else []),
        cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
        cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
    ]
    settings = SettingsCreator(
        unique_id_column_name="rec_id",
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=blocking,
        comparisons=comparisons,
        retain_intermediate_calculation_columns=True,
        max_iterations=max_iterations,
    )
    linker = Linker(db_api.register(con.table("febrl_input")), settings, log_level="WARNING")
    deterministic = [
        *([block_on("soc_sec_id")] if with_soc_sec_id else []),
        block_on("given_name", "surname", "date_of_birth"),
        "l.given_name = r.surname and l.surname = r.given_name "
        "and l.date_of_birth = r.date_of_birth",
    ]
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.9)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=2)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("postcode"))
    predictions = linker.inference.predict(threshold_match_probability=threshold)
    pairs = predictions.as_duckdbpyrelation().select("rec_id_l, rec_id_r").fetchall()
    predict_seconds = time.perf_counter() - start
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=threshold
    )
    cluster_of = dict(clusters.as_duckdbpyrelation().select("rec_id, cluster_id").fetchall())
    cluster_seconds = time.perf_counter() - start
    con.close()
    return {
        "pairs": pairs,
        "clusters": cluster_of,
        "predict_seconds": round(predict_seconds, 2),
        "cluster_seconds": round(cluster_seconds, 2),
    }


def row(file: str, method: str, records: int, scores: dict, seconds: float, **extra) -> dict:
    return {
        "file": file,
        "method": method,
        "records": records,
        **scores,
        "seconds": seconds,
        **extra,
    }


def messy_crm_row(seed: int, persons: int, folder: Path) -> dict:
    """The platform on the generator's duplicate-heavy CRM, scored against its truth."""
    from seg_platform.synthetic.duplicate_crm import generate_duplicate_crm, pairwise_scores

    landing = generate_duplicate_crm(persons, seed, folder)
    run = run_platform(landing, folder / "home")
    clusters = run["clusters"]
    scores = pairwise_scores(
        dict(zip(clusters[:, 0].to_list(), clusters[:, 1].to_list(), strict=True)), folder
    )
    extra = {"profiles": clusters[:, 1].n_unique()}
    if not run["success"]:
        extra["error"] = "Dagster run failed: " + "; ".join(run["errors"])[:300]
    return row(
        f"crm s{seed}", "platform crm_contacts (messy CRM)", clusters.height,
        {"true_pairs": scores.true_pairs, "predicted_pairs": scores.predicted_pairs,
         "correct_pairs": scores.correct_pairs, "precision": round(scores.precision, 4),
         "recall": round(scores.recall, 4), "f1": round(scores.f1, 4)},
        run["seconds"], **extra,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", nargs="+", choices=FILES, default=["dataset3"])
    parser.add_argument("--data", type=Path, default=FEBRL, help="folder of the Febrl CSVs")
    parser.add_argument(
        "--max-iterations", type=int, default=25,
        help="EM iterations per training session (25 is Splink's default, which the example uses)",
    )  # fmt: skip
    parser.add_argument("--threshold", type=float, default=TUTORIAL_THRESHOLD)
    parser.add_argument("--skip-platform", action="store_true")
    parser.add_argument(
        "--messy-crm",
        type=int,
        nargs="*",
        default=[],
        metavar="SEED",
        help="also run the platform on the generator's messy CRM, one per seed",
    )
    parser.add_argument("--crm-persons", type=int, default=2000)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    rows = []
    with work_folder("identity-person-records-", args.keep) as work:
        for name in args.files:
            frame = read_febrl(args.data / f"{name}.csv")
            ids = frame["rec_id"].to_list()
            records = len(ids)
            for label, with_ssn in (("platform columns", False), ("all columns", True)):
                fit = splink_tutorial_model(frame, with_ssn, args.max_iterations, args.threshold)
                method = f"splink tutorial, {label}"
                rows.append(
                    row(name, f"{method} [clusters]", records,
                        pairwise_from_clusters(fit["clusters"], all_ids=ids),
                        fit["cluster_seconds"])
                )  # fmt: skip
                rows.append(
                    row(name, f"{method} [pairs]", records,
                        pairwise_from_pairs(fit["pairs"], ids), fit["predict_seconds"])
                )  # fmt: skip
            if args.skip_platform:
                continue
            landing = write_crm_landing(frame, work / name / "landing")
            try:
                run = run_platform(landing, work / name / "home")
            except Exception as exc:  # the identity code may be mid-rewrite: report, go on
                rows.append(
                    row(name, "platform crm_contacts", records,
                        {"true_pairs": true_pair_count(ids)}, 0.0,
                        error=f"{type(exc).__name__}: {exc}"[:300])
                )  # fmt: skip
                continue
            clusters = dict(run["clusters"].iter_rows())
            extra = {"records_out": len(clusters), "profiles": len(set(clusters.values()))}
            if not run["success"]:
                extra["error"] = "Dagster run failed: " + "; ".join(run["errors"])[:300]
            if run["failed_checks"]:
                extra["failed_checks"] = run["failed_checks"]
            rows.append(
                row(name, "platform crm_contacts", records,
                    pairwise_from_clusters(clusters, all_ids=ids), run["seconds"], **extra)
            )  # fmt: skip

        for seed in args.messy_crm:
            rows.append(messy_crm_row(seed, args.crm_persons, work / f"crm_{seed}"))

    header = (
        f"{'file':<9} {'method':<46}{'records':>8}{'true':>7}{'pred':>8}"
        f"{'P':>8}{'R':>8}{'F1':>8}{'s':>8}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['file']:<9} {r['method']:<46}{r['records']:>8}{r['true_pairs']:>7}"
            f"{r.get('predicted_pairs', '-')!s:>8}{r.get('precision', '-')!s:>8}"
            f"{r.get('recall', '-')!s:>8}{r.get('f1', '-')!s:>8}{r['seconds']:>8}"
            + (f"  {r['error']}" if "error" in r else "")
        )
    for r in rows:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
