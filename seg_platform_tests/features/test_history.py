"""Stored history (`features.history`): months computed for training are stored and read back
by the next training without running the features model, rows identical to a recomputation;
changed inputs (a merge of two profiles, a late row) make the months they touch computed again;
an erased person, under their current or a retired profile id, leaves the stored history.

A synthetic company of six months (to June) is loaded with only June's monthly features built,
as on a cold start: February and March, training months, are not in the monthly table.
"""

import shutil

import polars as pl
import pytest

from seg_platform.core.calendar import month_parameters
from seg_platform.core.warehouse import connect, frame_to_temp_table
from seg_platform.features.labels import outcome_labels
from seg_platform.predictions.data import FeatureSnapshots, known_features, labelled_rows
from seg_platform.sql_models import run as sql_run
from seg_platform.synthetic.company import generate
from seg_platform_tests.features.helpers import build_all

MONTHS = ["2025-02", "2025-03"]
LABEL = "churned_next_90d"
HISTORY = ("features.feature_history", "features.label_history")


@pytest.fixture(scope="module")
def cold_start(tmp_path_factory):
    root = tmp_path_factory.mktemp("history")
    generate(300, 6, 11, root / "company", end_month="2025-06")
    database = root / "warehouse.duckdb"
    build_all(database, root / "company" / "landing" / "sources.yaml", ["2025-06"])
    return database


@pytest.fixture
def warehouse(cold_start, tmp_path):
    database = tmp_path / "warehouse.duckdb"
    shutil.copy(cold_start, database)
    return database


@pytest.fixture
def model_runs(monkeypatch) -> list[str]:
    """Every run of the features model's SQL (by any path), as the month's as_of_date."""
    runs: list[str] = []
    execute = sql_run._execute

    def counting(con, model, prefix, params=None):
        if model.table == "features.customer_features":
            runs.append(str(params["as_of_date"]))
        return execute(con, model, prefix, params)

    monkeypatch.setattr(sql_run, "_execute", counting)
    return runs


def training_rows(con, origins: list | None = None) -> pl.DataFrame:
    """The churn training rows of MONTHS, as propensity training reads them; `origins` gets
    where each month's features came from."""
    with FeatureSnapshots(con) as snapshots:
        rows = labelled_rows(con, snapshots, MONTHS, LABEL, 10**9, seed=1)[0]
    if origins is not None:
        origins.append(snapshots.summary())
    return rows


def recomputed(con) -> pl.DataFrame:
    """The training rows from features computed now and labels queried now."""
    parts = []
    for month in MONTHS:
        features = known_features(con, month_parameters(month), stored=False)
        frame_to_temp_table(con, "_expected_profiles", features.select("profile_id"))
        labels = outcome_labels(con, month, "_expected_profiles").drop("as_of_date")
        joined = features.join(labels, on="profile_id").filter(pl.col(LABEL).is_not_null())
        parts.append(joined.with_columns(pl.lit(month).alias("label_month")))
    return pl.concat(parts)


def test_a_second_training_reads_the_stored_months_without_running_the_features_model(
    warehouse, model_runs
):
    with connect(warehouse) as con:
        origins: list[dict] = []
        first = training_rows(con, origins)
        assert model_runs == ["2025-02-28", "2025-03-31"]  # cold: not in the monthly table
        second = training_rows(con, origins)
        assert model_runs == ["2025-02-28", "2025-03-31"]  # read back, not computed again
        expected = recomputed(con).select(first.columns)
        stored = {
            table: con.execute(
                f"SELECT strftime(as_of_date, '%Y-%m'), count(*) FROM {table} GROUP BY 1 ORDER BY 1"
            ).fetchall()
            for table in HISTORY
        }
    assert [o["feature_months_computed"] for o in origins] == [2, 0]
    assert [o["feature_months_stored_history"] for o in origins] == [0, 2]
    assert [o["label_months_stored_now"] for o in origins] == [2, 0]
    assert first.height > 200
    assert second.equals(first)
    assert first.equals(expected)
    assert [m for m, _ in stored["features.feature_history"]] == MONTHS
    assert [m for m, _ in stored["features.label_history"]] == MONTHS  # windows over by June


def test_months_are_computed_again_when_their_inputs_change(warehouse, model_runs):
    with connect(warehouse) as con:
        before = training_rows(con)
        # A new month's data (dated after both months and their label windows) changes
        # nothing stored: features and labels are read back.
        con.execute(
            "INSERT INTO staging.stg_events SELECT * REPLACE ("
            "event_id || '-july' AS event_id, TIMESTAMP '2025-07-05 12:00:00' AS event_ts, "
            "DATE '2025-07-05' AS day) FROM staging.stg_events LIMIT 50"
        )
        del model_runs[:]
        with FeatureSnapshots(con) as snapshots:
            later = labelled_rows(con, snapshots, MONTHS, LABEL, 10**9, seed=1)[0]
            assert snapshots.history.stored_labels == []
        assert model_runs == []
        assert later.equals(before)
        # An identity rebuild merging profile `gone` into `kept` (both active by February):
        # their records now carry `kept`, and `gone` is no longer a profile.
        gone, kept = (
            r[0]
            for r in con.execute(
                "SELECT profile_id FROM staging.stg_events WHERE event_ts < '2025-02-01' "
                "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 2"
            ).fetchall()
        )
        for table in ("stg_events", "stg_orders", "stg_email_events", "stg_tickets",
                      "stg_invoices"):  # fmt: skip
            con.execute(
                f"UPDATE staging.{table} SET profile_id = ? WHERE profile_id = ?", [kept, gone]
            )
        con.execute(
            "UPDATE identity.profiles SET first_seen = (SELECT min(first_seen) FROM "
            "identity.profiles WHERE profile_id IN (?, ?)) WHERE profile_id = ?",
            [gone, kept, kept],
        )
        con.execute("DELETE FROM identity.profiles WHERE profile_id = ?", [gone])
        del model_runs[:]
        merged = training_rows(con)
        assert model_runs == ["2025-02-28", "2025-03-31"]
        assert merged.equals(recomputed(con).select(merged.columns))
        assert not merged.equals(before)

        # A late event dated in April changes no February or March feature, but both
        # months' 90-day label windows: features are read, labels computed again.
        con.execute(
            "INSERT INTO staging.stg_events SELECT * REPLACE ("
            "event_id || '-late' AS event_id, TIMESTAMP '2025-04-15 12:00:00' AS event_ts, "
            "DATE '2025-04-15' AS day) FROM staging.stg_events WHERE profile_id = ? LIMIT 1",
            [kept],
        )
        del model_runs[:]
        with FeatureSnapshots(con) as snapshots:
            late = labelled_rows(con, snapshots, MONTHS, LABEL, 10**9, seed=1)[0]
            relabelled = [str(d) for d in snapshots.history.stored_labels]
        assert model_runs == []
        assert relabelled == ["2025-02-28", "2025-03-31"]
        assert late.equals(recomputed(con).select(late.columns))


def test_an_erased_person_leaves_the_stored_history_under_any_of_their_ids(warehouse):
    from seg_platform.privacy.erasure import erase
    from seg_platform.sources.suppression import ERASED, ensure_privacy_tables, salted

    with connect(warehouse) as con:
        training_rows(con)
        person, old = (
            r[0]
            for r in con.execute(
                "SELECT profile_id FROM features.label_history h JOIN identity.identity_map "
                "USING (profile_id) WHERE as_of_date = '2025-02-28' GROUP BY 1 ORDER BY 1 LIMIT 2"
            ).fetchall()
        )
        # A later rebuild merged `old` into `person`; the history stored before still holds
        # `old`. Then the person asks to be erased.
        con.execute(
            "UPDATE identity.identity_map SET profile_id = ? WHERE profile_id = ?", [person, old]
        )
        con.execute("DELETE FROM identity.profiles WHERE profile_id = ?", [old])
        salt = ensure_privacy_tables(con)
        hashed = salted(salt, "sha256(id_type || ':' || value)")
        con.execute(
            f"INSERT INTO {ERASED} SELECT {hashed} FROM identity.identity_map "
            "WHERE profile_id = ? LIMIT 1",
            [person],
        )
        result = erase(con, "test-run")
        left = {
            table: con.execute(
                f"SELECT count(*) FROM {table} WHERE profile_id IN (?, ?)", [person, old]
            ).fetchone()[0]
            for table in HISTORY
        }
        others = con.execute("SELECT count(*) FROM features.feature_history").fetchone()[0]
    assert result.profiles == 1
    assert result.rows_deleted["features.feature_history"] == 4  # two ids, two months
    assert left == {table: 0 for table in HISTORY}
    assert others > 200


def test_every_table_the_features_and_the_labels_read_is_fingerprinted_by_date():
    """A table read without a date column in DATED would be hashed whole (still correct, but
    no month would stay stored once new data arrives): adding one must be a decision."""
    import re

    import duckdb

    from seg_platform.features.history import DATED, LABEL_INPUTS
    from seg_platform.features.labels import outcome_labels_sql
    from seg_platform_tests.features.helpers import FEATURES

    assert set(FEATURES.reads) <= set(DATED)
    sql, _ = outcome_labels_sql(duckdb.connect(), "2025-02", "profiles")
    assert set(re.findall(r"staging\.\w+", sql)) == set(LABEL_INPUTS)
