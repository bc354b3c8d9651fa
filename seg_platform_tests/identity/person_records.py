"""Febrl person records through the platform's crm_contacts source, scored pairwise against the
rec_id truth: the helpers of benchmarks/identity_person_records.py (and of tests that want them).

Ground truth: `rec-<N>-org` and `rec-<N>-dup-<k>` are the same person N. A matcher never sees
`rec_id` as a feature; here it only becomes the contact's `crm_id`, which is unique per record.
"""

import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import polars as pl

from seg_platform.core.warehouse import connect
from seg_platform.sources.config import load_sources_config
from seg_platform_tests.environment import environment

FEBRL_ENTITY = re.compile(r"^rec-(\d+)-")

# The crm_contacts contract's columns, as SQL expressions over the Febrl file's columns.
# soc_sec_id has no slot in the contract and is not written; state and address_2 neither.
# concat_ws skips a missing street number instead of making the whole address NULL.
CRM_MAPPING = {
    "crm_id": "rec_id",
    "created_at": "'2024-01-01'",
    "first_name": "given_name",
    "last_name": "surname",
    "date_of_birth": "date_of_birth",
    "address": "nullif(concat_ws(' ', street_number, address_1), '')",
    "postcode": "postcode",
    "city": "suburb",
}
CRM_FILE_COLUMNS = [
    "rec_id",
    "given_name",
    "surname",
    "street_number",
    "address_1",
    "suburb",
    "postcode",
    "date_of_birth",
]


def read_febrl(path: Path) -> pl.DataFrame:
    """A Febrl CSV (delimiter ", ") with every column a stripped string, empty as null.

    Leading zeros (postcode, street number, social-security id) are kept.
    """
    frame = pl.read_csv(path, separator=",", infer_schema=False, quote_char=None)
    frame = frame.rename({c: c.strip() for c in frame.columns})
    return frame.with_columns(pl.col(c).str.strip_chars().replace("", None) for c in frame.columns)


def febrl_person(record_id: str) -> str:
    """The true person N of a Febrl `rec-<N>-...` id."""
    found = FEBRL_ENTITY.match(record_id)
    if not found:
        raise ValueError(f"not a Febrl record id: {record_id!r}")
    return found.group(1)


def write_crm_landing(frame: pl.DataFrame, folder: Path) -> Path:
    """Write `frame` (Febrl columns) as a crm_contacts landing folder; returns its sources.yaml.

    `crm_contacts/contacts.csv` keeps every value a string (leading zeros kept, null as empty);
    the sources.yaml maps its columns onto the contract with `CRM_MAPPING` and is validated
    with the platform's own loader before it is returned.

    Example:
        >>> yaml_path = write_crm_landing(read_febrl(Path("dataset3.csv")), tmp / "landing")
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "crm_contacts").mkdir(exist_ok=True)
    frame.select(pl.col(c).cast(pl.String) for c in CRM_FILE_COLUMNS).write_csv(
        folder / "crm_contacts" / "contacts.csv"
    )
    # JSON strings are YAML double-quoted scalars: the SQL stays readable ("'2024-01-01'").
    lines = [
        "# Febrl person records as CRM contacts (seg_platform_tests/identity/person_records.py).",
        "version: 1",
        "sources:",
        "  crm_contacts:",
        "    path: crm_contacts/*.csv",
        "    columns:",
        *(f"      {column}: {json.dumps(sql)}" for column, sql in CRM_MAPPING.items()),
    ]
    path = folder / "sources.yaml"
    path.write_text("\n".join(lines) + "\n")
    load_sources_config(path)  # raises SourceConfigError with the platform's message if wrong
    return path


def blank_first_names(frame: pl.DataFrame, share: float, first: str) -> pl.DataFrame:
    """`frame` with column `first` emptied on `share` of its rows (seeded draw); where a
    `last_name` and a `full_name` are present, the full name is emptied too (it would give
    the given name back)."""
    if share <= 0:
        return frame
    draw = pl.Series(np.random.default_rng(0).random(frame.height) < share)
    out = frame.with_columns(pl.when(draw).then(None).otherwise(pl.col(first)).alias(first))
    if {"full_name", "last_name"} <= set(frame.columns):
        has_last = pl.col("last_name").is_not_null() & (pl.col("last_name").str.strip_chars() != "")
        out = out.with_columns(
            pl.when(draw & has_last).then(None).otherwise(pl.col("full_name")).alias("full_name")
        )
    return out


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def true_pair_count(ids: Iterable[str], truth: Callable[[str], str] = febrl_person) -> int:
    """Record pairs that are the same person: sum over people of C(records, 2)."""
    return sum(_pairs(n) for n in Counter(truth(i) for i in ids).values())


def pair_scores(predicted: int, correct: int, true: int) -> dict[str, float | int]:
    precision = correct / predicted if predicted else 0.0
    recall = correct / true if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "true_pairs": true,
        "predicted_pairs": predicted,
        "correct_pairs": correct,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
    }


def pairwise_from_clusters(
    clusters: Mapping[str, object],
    truth: Callable[[str], str] = febrl_person,
    all_ids: Iterable[str] | None = None,
) -> dict[str, float | int]:
    """Pairwise precision, recall and F1 of a clustering (record id -> cluster id).

    Predicted pairs are all record pairs in one cluster; true pairs all pairs of one person,
    over `all_ids` when given (records missing from `clusters` then count as missed).
    """
    predicted = sum(_pairs(n) for n in Counter(clusters.values()).values())
    correct = sum(_pairs(n) for n in Counter((c, truth(r)) for r, c in clusters.items()).values())
    true = true_pair_count(clusters if all_ids is None else all_ids, truth)
    return pair_scores(predicted, correct, true)


def pairwise_from_pairs(
    pairs: Iterable[tuple[str, str]],
    all_ids: Iterable[str],
    truth: Callable[[str], str] = febrl_person,
) -> dict[str, float | int]:
    """Pairwise precision, recall and F1 of predicted record pairs (unordered, deduplicated)."""
    unique = {(a, b) if a < b else (b, a) for a, b in pairs if a != b}
    correct = sum(truth(a) == truth(b) for a, b in unique)
    return pair_scores(len(unique), correct, true_pair_count(all_ids, truth))


def platform_clusters(warehouse_path: Path) -> pl.DataFrame:
    """The platform's profile of every crm_contacts record: (record_id, cluster)."""
    with connect(warehouse_path, read_only=True) as con:
        return con.sql(
            "SELECT record_key AS record_id, profile_id AS cluster "
            "FROM identity.record_profiles WHERE source = 'crm_contacts' ORDER BY record_key"
        ).pl()


@contextmanager
def _platform_home(home: Path) -> Iterator[None]:
    """Point the platform (and Dagster) at `home` for the duration, then restore the env."""
    from seg_platform.core import settings

    with environment(**{settings.HOME_ENV: str(home)},
                     **{settings.SOURCES_ENV: None, "DAGSTER_HOME": None}):  # fmt: skip
        yield


def run_platform(landing_sources_yaml: Path, home: Path) -> dict:
    """Materialize the raw sources and the identity graph in-process into a fresh warehouse
    under `home`, like seg_platform_tests/identity/test_identity.py; the sources.yaml should
    configure only crm_contacts (the other raw tables are then empty).

    Returns `{"success", "seconds", "clusters" (record_id, cluster), "failed_checks",
    "errors"}` (errors: one line per failed step); `clusters` is read whenever the identity
    tables were written, and is empty when they were not.
    """
    from seg_platform.core.resources import EngineResource, WarehouseResource
    from seg_platform.core.tracking import MlflowResource
    from seg_platform.identity.assets import IDENTITY_ASSETS, IDENTITY_CHECKS
    from seg_platform.sources.assets import RAW_ASSETS, RAW_CHECKS
    from seg_platform.sources.resources import IdentityConfig, SourcesResource

    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    warehouse = home / "warehouse.duckdb"
    warehouse.unlink(missing_ok=True)
    with _platform_home(home):
        start = time.perf_counter()
        result = dg.materialize(
            [*RAW_ASSETS, *RAW_CHECKS, *IDENTITY_ASSETS, *IDENTITY_CHECKS],
            resources={
                "warehouse": WarehouseResource(database=str(warehouse)),
                "sources": SourcesResource(config_path=str(landing_sources_yaml)),
                "identity": IdentityConfig(),
                # the duplicate model's MLflow run goes to `home`'s store (set just above)
                "mlflow_tracking": MlflowResource(),
                "engine": EngineResource(),
            },
            raise_on_error=False,
        )
        seconds = time.perf_counter() - start
    failed = [
        f"{c.asset_key.to_user_string()}.{c.check_name}"
        for c in result.get_asset_check_evaluations()
        if not c.passed
    ]
    errors = [
        f"{e.step_key}: {e.step_failure_data.error.message.strip().splitlines()[-1]}"
        for e in result.get_step_failure_events()
        if e.step_failure_data.error
    ]
    # The warehouse is new, so profiles present were written by this run: read them even when
    # a blocking check failed after identity_graph (the run then counts as failed).
    try:
        clusters = platform_clusters(warehouse)
    except duckdb.Error:  # no warehouse, or identity_graph never wrote its tables
        clusters = pl.DataFrame(schema={"record_id": pl.String, "cluster": pl.String})
    return {
        "success": result.success,
        "seconds": round(seconds, 2),
        "clusters": clusters,
        "failed_checks": failed,
        "errors": errors,
    }
