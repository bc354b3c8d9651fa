"""Lookalike audiences (issue 24 point 4): a seed (a segment or a CSV of identifiers, resolved
through the identity map) scored against every other customer on the segmentation's feature
space; the top N published as an audience; each build an MLflow run with its precision on a
held-out part of the seed."""

import datetime as dt

import duckdb
import mlflow
import numpy as np
import polars as pl
import pytest

from seg_platform.activation.feeds import FeedErasure
from seg_platform.activation.lookalike import (
    LookalikeError,
    holdout_precision,
    read_seed,
    request,
    resolve_seed,
)
from seg_platform.cli import main
from seg_platform.core.identity_rules import IdentityRules


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        (b"", "is empty"),
        (b"\xff\xfe\x00bin", "not UTF-8"),
        (b"email\n", "no identifiers"),
        (b"email\n \n", "no identifiers"),
        (b"foo,bar\n1,2\n", "first line (the header, 2 column(s)) is not understood"),
        (b"id_type,value\nemail,a@b.co\nfax,123\n", "id_type that is not one of"),
        (b"id_type,value\nemail,a@b.co,extra\n", "line 2 does not have 2 fields"),
        (b"email\na@b.co\nc@d.co,e@f.co\n", "line 3 has more than one field"),
    ],
)
def test_bad_seed_files_give_one_clear_line(tmp_path, content, message):
    path = tmp_path / "seed.csv"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(LookalikeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_seed(path)


def test_a_headerless_file_of_emails_is_refused_without_echoing_a_customer(tmp_path):
    path = tmp_path / "seed.csv"
    path.write_text("jane.doe@example.com\njohn@example.com\n")
    with pytest.raises(LookalikeError) as caught:
        read_seed(path)
    assert "jane" not in str(caught.value) and "example" not in str(caught.value)


@pytest.mark.parametrize(
    ("content", "rows"),
    [
        ("email\nA@B.co\n\nc@d.co\n", [("email", "A@B.co"), ("email", "c@d.co")]),
        ("Profile_ID\nP1\n", [("profile_id", "P1")]),
        ("id_type,value\nphone,+1 555 0100\nCRM_ID,C1\n",
         [("phone", "+1 555 0100"), ("crm_id", "C1")]),
    ],
)  # fmt: skip
def test_seed_files_name_their_identifier_type(tmp_path, content, rows):
    path = tmp_path / "seed.csv"
    path.write_text(content)
    assert read_seed(path).rows() == rows


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"name": "a", "size": 10}, "exactly one seed"),
        ({"name": "a", "size": 10, "segment": 1, "seed": "x.csv"}, "exactly one seed"),
        ({"name": "Bad Name", "size": 10, "segment": 1}, "name"),
        ({"name": "a", "size": 0, "segment": 1}, "size"),
    ],
)
def test_requests_are_validated(values, message):
    with pytest.raises(LookalikeError, match=message):
        request(**values)


def test_holdout_precision_beats_random_on_separable_data():
    rng = np.random.default_rng(0)
    Z = np.vstack([rng.normal(0, 1, (500, 4)), rng.normal(4, 1, (100, 4))])
    seed = np.zeros(600, dtype=bool)
    seed[500:] = True
    m = holdout_precision(Z, seed, salt="t")
    assert m["holdout_precision"] >= 0.9 and m["random_precision"] < 0.05


def _planted_seed(company, archetype: str) -> pl.DataFrame:
    """The emails of the demo's customers of one archetype in December (generator truth)."""
    truth = company / "truth"
    people = pl.read_parquet(truth / "archetypes.parquet").filter(
        (pl.col("month") == "2025-12") & pl.col("active") & (pl.col("archetype") == archetype)
    )
    return people.join(pl.read_parquet(truth / "persons.parquet"), on="person_id").select("email")


def test_a_lookalike_of_one_archetype_beats_a_random_audience_and_is_published(
    demo_copy, demo_december, tmp_path, capsys
):
    home, _ = demo_copy
    _, company = demo_december
    seed = _planted_seed(company, "bargain_hunter")
    assert seed.height > 100
    path = tmp_path / "seed.csv"
    seed.write_csv(path)

    assert main(["lookalike", "--seed", str(path), "--size", "150", "--name", "bargains"]) == 0
    out = capsys.readouterr().out
    assert "held-out precision" in out

    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        build = con.sql("SELECT * FROM activation.lookalike_audiences").pl().row(0, named=True)
        members = con.sql(
            "SELECT * FROM activation.lookalike_members WHERE audience = 'bargains' ORDER BY rank"
        ).pl()
        seed_profiles, _ = resolve_seed(con, read_seed(path), IdentityRules())
        published = con.sql(
            "SELECT file, rows FROM activation.published_feeds "
            "WHERE destination = 'lookalike_bargains'"
        ).pl()
    # Every seed email resolves through the identity map; the audience is N non-seed rows.
    assert build["unresolved_seed_rows"] == 0 and build["seed_customers"] >= seed.height * 0.9
    assert members.height == build["size"] == 150
    assert members["rank"].to_list() == list(range(1, 151))
    assert members["similarity"].is_sorted(descending=True)
    assert len(seed_profiles) >= seed.height * 0.9
    assert not set(seed_profiles) & set(members["profile_id"])
    # Precision on the held-out seed, far above a random audience's.
    assert build["holdout_precision"] >= 0.3
    assert build["holdout_precision"] >= 5 * build["random_precision"]
    # Published like a feed: files recorded with their rows.
    assert sorted(published["rows"]) == [150, 150]
    csv = pl.read_csv(home.root / "activation" / published["file"].sort()[0])
    assert csv["profile_id"].to_list() == members["profile_id"].to_list()
    # The build is an MLflow run with the precision.
    run = mlflow.MlflowClient(home.mlflow_tracking_uri).get_run(build["mlflow_run_id"])
    assert run.data.metrics["holdout_precision"] == pytest.approx(build["holdout_precision"])
    assert run.data.metrics["random_precision"] == pytest.approx(build["random_precision"])

    # A segment seed works too, and leaves the other audience in place.
    assert main(["lookalike", "--segment", "0", "--size", "20", "--name", "seg_zero"]) == 0
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        counts = dict(
            con.sql(
                "SELECT audience, count(*) FROM activation.lookalike_members GROUP BY 1"
            ).fetchall()
        )
    assert counts == {"bargains": 150, "seg_zero": 20}

    # Erasure scrubs a lookalike's files like a feed's: the person's id leaves the files.
    erased = members["profile_id"][0]
    folder = home.root / "activation"
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute("CREATE TEMP TABLE _erased_profiles AS SELECT ? AS profile_id", [erased])
        feeds = FeedErasure(None, folder)
        holding = feeds.holding(con)
        assert ("lookalike_bargains", dt.date(2025, 12, 31)) in holding
        con.execute("DELETE FROM activation.lookalike_members WHERE profile_id = ?", [erased])
        feeds.scrub(con, holding, [erased])
    for file in (folder / "lookalike_bargains").iterdir():
        assert erased.encode() not in file.read_bytes(), file.name
    assert pl.read_csv(folder / published["file"].sort()[0]).height == 149


def test_bad_seeds_fail_the_cli_with_one_line(demo_copy, tmp_path, capsys):
    path = tmp_path / "seed.csv"
    path.write_text("jane.doe@example.com\n")
    assert main(["lookalike", "--seed", str(path), "--size", "5", "--name", "x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "jane" not in err
    path.write_text("email\nnobody@nowhere.example\n")
    assert main(["lookalike", "--seed", str(path), "--size", "5", "--name", "x"]) == 2
    err = capsys.readouterr().err
    assert "at least 10 are needed" in err and "1 seed rows matched no customer" in err
    assert main(["lookalike", "--segment", "999", "--size", "5", "--name", "x"]) == 2
    assert "segment 999 has no members" in capsys.readouterr().err


def test_without_a_warehouse_the_cli_says_which_run_to_start(home, capsys):
    assert main(["lookalike", "--segment", "0", "--size", "5", "--name", "x"]) == 2
    err = capsys.readouterr().err
    assert f"run --home {home.root}" in err and err.count("\n") == 1
