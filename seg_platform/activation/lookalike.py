"""Lookalike audiences: customers who resemble a seed (a segment, or an uploaded list of
identifiers), scored on the segmentation's feature space and published as an audience.

The seed is resolved through the identity map (identifiers normalised exactly as the identity
layer does). Every other customer of the month is scored by similarity to the seed: the mean
distance to their nearest seed members in the champion pipeline's transformed space, as
`1 / (1 + distance)`. Before the audience is built, a deterministic fifth of the seed is held
out: the lookalike is fitted on the rest, and its precision is the share of the top-ranked
customers (as many as were held out) that are held-out seed members, beside what a random
audience of that size would get. Both go to an MLflow run.

No Dagster here: the CLI (`seg-platform lookalike`) calls `build_lookalike`.
"""

import csv
import datetime as dt
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from seg_platform.activation import audiences as aud
from seg_platform.activation.destinations import FileDestination
from seg_platform.activation.feeds import lookalike_file_frame, record_written
from seg_platform.core.calendar import month_key
from seg_platform.core.identifiers import (
    IDENTIFIER_TYPES,
    NormalisationRules,
    fill_phone_table,
    identifier_hash_sql,
)
from seg_platform.core.warehouse import (
    fetch_frame,
    fetch_one,
    frame_to_temp_table,
    replace_partition,
    table_exists,
)
from seg_platform.core.yaml_files import Name

MEMBERS = aud.LOOKALIKE_MEMBERS
BUILDS = f"{aud.SCHEMA}.lookalike_audiences"
EXPERIMENT = "lookalike_audiences"
MIN_SEED = 10  # fewer resolved seed customers give no held-out part worth measuring
MAX_SEED_ROWS = 1_000_000
MAX_SEED_BYTES = 200 * 1024 * 1024
HOLDOUT_SHARE = 0.2
NEIGHBOURS = 10
SEED_COLUMNS = ("profile_id", *IDENTIFIER_TYPES)


class LookalikeError(ValueError):
    """A user mistake (a bad seed file, an unknown segment, too small a seed): one clear line,
    never a customer value."""


class LookalikeRequest(BaseModel):
    """What a lookalike build is asked for; exactly one of `segment` and `seed`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name = Field(description="The audience's name (a lower_case name).")
    size: int = Field(ge=1, le=10_000_000, description="How many customers to publish.")
    segment: int | None = Field(default=None, ge=0, description="Seed: this segment's members.")
    seed: Path | None = Field(default=None, description="Seed: a CSV of identifiers.")
    month: str | None = Field(default=None, description="YYYY-MM; default the latest segmented.")

    @model_validator(mode="after")
    def _one_seed(self) -> "LookalikeRequest":
        if (self.segment is None) == (self.seed is None):
            raise ValueError("give exactly one seed: a segment id or a seed file")
        return self


def request(**values: Any) -> LookalikeRequest:
    """A validated request; a mistake raises LookalikeError naming the fields."""
    try:
        return LookalikeRequest(**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'request'}: {e['msg']}" for e in exc.errors()
        )
        raise LookalikeError(f"invalid lookalike request: {problems}") from None


# ------------------------------------------------------------------------------------------
# The seed file


def read_seed(path: Path) -> pl.DataFrame:
    """The seed file's rows as (id_type, value), blank values left out.

    A CSV with a header: one column named `profile_id` or an identifier type
    (`email`, `user_id`, `crm_id`, ...), or two columns `id_type,value`.
    """
    path = Path(path)
    if not path.is_file():
        raise LookalikeError(f"seed file {path} does not exist or is not a file")
    if path.stat().st_size > MAX_SEED_BYTES:
        raise LookalikeError(f"seed file {path} is larger than {MAX_SEED_BYTES // 2**20} MB")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise LookalikeError(f"seed file {path} is not UTF-8 text (a CSV is expected)") from None
    if "\x00" in text:
        raise LookalikeError(f"seed file {path} is binary, not a CSV")
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise LookalikeError(f"seed file {path} is not a readable CSV ({exc})") from None
    if not rows or not any(c.strip() for c in rows[0]):
        raise LookalikeError(f"seed file {path} is empty: it needs a header and rows")
    header = [c.strip().lower() for c in rows[0]]
    body = rows[1:]
    if len(body) > MAX_SEED_ROWS:
        raise LookalikeError(f"seed file {path} has more than {MAX_SEED_ROWS:,} rows")
    expected = f"one column named one of {', '.join(SEED_COLUMNS)}, or two columns id_type,value"
    if header == ["id_type", "value"]:
        wrong = [i for i, r in enumerate(body, start=2) if len(r) != 2]
        if wrong:
            raise LookalikeError(f"seed file {path}: line {wrong[0]} does not have 2 fields "
                                 f"({len(wrong):,} such lines)")  # fmt: skip
        pairs = [(r[0].strip().lower(), r[1]) for r in body]
        unknown = sorted({t for t, v in pairs if v.strip() and t not in SEED_COLUMNS})
        if unknown:
            lines = [i for i, (t, v) in enumerate(pairs, start=2) if v.strip() and t in unknown]
            raise LookalikeError(
                f"seed file {path}: {len(lines):,} rows (first on line {lines[0]}) have an "
                f"id_type that is not one of {', '.join(SEED_COLUMNS)}"
            )
    elif len(header) == 1 and header[0] in SEED_COLUMNS:
        wrong = [i for i, r in enumerate(body, start=2) if len(r) > 1]
        if wrong:
            raise LookalikeError(f"seed file {path}: line {wrong[0]} has more than one field "
                                 f"({len(wrong):,} such lines); {expected}")  # fmt: skip
        pairs = [(header[0], r[0] if r else "") for r in body]
    else:
        # Not echoed: a file without a header starts with a customer's identifier.
        raise LookalikeError(
            f"seed file {path}: its first line (the header, {len(header)} column(s)) is not "
            f"understood; {expected}"
        )
    frame = pl.DataFrame(
        {"id_type": [t for t, _ in pairs], "raw_value": [v.strip() for _, v in pairs]},
        schema={"id_type": pl.String, "raw_value": pl.String},
    ).filter(pl.col("raw_value") != "")
    if frame.is_empty():
        raise LookalikeError(f"seed file {path} has a header but no identifiers")
    return frame


def resolve_seed(con, seed: pl.DataFrame, rules: NormalisationRules) -> tuple[list[str], int]:
    """The seed's profile ids (sorted, unique) through the identity map, and how many seed
    rows matched no customer."""
    frame_to_temp_table(con, "_seed_raw", seed.with_row_index("_row"))
    fill_phone_table(con, rules, "SELECT raw_value FROM _seed_raw WHERE id_type = 'phone'")
    cases = " ".join(
        f"WHEN '{t}' THEN {identifier_hash_sql(rules, t, 'raw_value')}" for t in IDENTIFIER_TYPES
    )
    found = fetch_frame(
        con,
        f"""WITH s AS (SELECT _row, id_type, raw_value, CASE id_type {cases} END AS h
                       FROM _seed_raw WHERE id_type <> 'profile_id'),
            m AS (SELECT profile_id, sha256(id_type || ':' || value) AS h
                  FROM identity.identity_map),
            hits AS (SELECT s._row, m.profile_id FROM s JOIN m USING (h)
                     UNION ALL
                     SELECT r._row, p.profile_id FROM _seed_raw r
                     JOIN identity.profiles p ON p.profile_id = r.raw_value
                     WHERE r.id_type = 'profile_id')
        SELECT _row, profile_id FROM hits""",
    )
    con.execute("DROP TABLE _seed_raw; DROP TABLE _phone_e164")
    unresolved = seed.height - found["_row"].n_unique()
    return sorted(set(found["profile_id"].to_list())), unresolved


# ------------------------------------------------------------------------------------------
# Scoring


def similarity(Z: np.ndarray, seed_rows: np.ndarray, neighbours: int = NEIGHBOURS) -> np.ndarray:
    """Each row's similarity to the seed rows: `1 / (1 + mean distance to the nearest
    `neighbours` seed rows)`; a seed row's own distance counts (score it out afterwards)."""
    from sklearn.neighbors import NearestNeighbors

    k = max(1, min(neighbours, len(seed_rows)))
    nn = NearestNeighbors(n_neighbors=k).fit(Z[seed_rows])
    distance, _ = nn.kneighbors(Z)
    return 1.0 / (1.0 + distance.mean(axis=1))


def in_holdout(profile_ids: list[str], salt: str, share: float = HOLDOUT_SHARE) -> np.ndarray:
    """A deterministic `share` of `profile_ids` (by a hash of id and salt): the held-out seed."""
    return np.array(
        [
            int(hashlib.sha256(f"{salt}:{p}".encode()).hexdigest()[:15], 16) / 16**15 < share
            for p in profile_ids
        ],
        dtype=bool,
    )


def holdout_precision(
    Z: np.ndarray, seed: np.ndarray, salt: str, ids: list[str] | None = None
) -> dict[str, float]:
    """Fit on the seed without its held-out part (chosen by a hash of each row's id, default
    its position); rank every other row; the share of the top h (h = held-out seed members)
    that are held out, and a random audience's expected share."""
    rows = np.flatnonzero(seed)
    keys = [ids[r] for r in rows] if ids is not None else [str(r) for r in rows]
    held = rows[in_holdout(keys, salt)]
    if len(held) == 0 or len(held) == len(rows):  # tiny seeds: hold out one, keep one
        held = rows[:1]
    train = np.setdiff1d(rows, held)
    scores = similarity(Z, train)
    candidates = np.setdiff1d(np.arange(len(Z)), train)
    top = candidates[np.argsort(-scores[candidates], kind="stable")[: len(held)]]
    precision = float(np.isin(top, held).mean())
    random = len(held) / len(candidates)
    return {
        "holdout_precision": round(precision, 4),
        "random_precision": round(random, 4),
        "lift_over_random": round(precision / random, 2) if random else 0.0,
        "holdout_size": float(len(held)),
        "train_size": float(len(train)),
    }


# ------------------------------------------------------------------------------------------
# The build


class Tracking(Protocol):
    """What the build needs of `core.tracking.MlflowResource`."""

    def setup(self, experiment: str | None = None) -> str: ...
    def run_url(self, experiment_id: str, run_id: str) -> str: ...
    def uri(self) -> str: ...
    def client(self): ...

    @property
    def registered_model(self) -> str: ...


@dataclass
class Lookalike:
    name: str
    month: str
    seed_customers: int
    unresolved: int
    audience: pl.DataFrame  # rank, profile_id, similarity
    metrics: dict[str, float]
    run_id: str
    run_url: str
    files: list[str]


def latest_month(con) -> dt.date:
    if not table_exists(con, "segments", "segment_assignments"):
        raise LookalikeError("no segments yet: run the pipeline first")
    (day,) = fetch_one(con, "SELECT max(as_of_date) FROM segments.segment_assignments")
    if day is None:
        raise LookalikeError("no segments yet: run the pipeline first")
    return day


def build_lookalike(
    con,
    req: LookalikeRequest,
    tracking: Tracking,
    rules: NormalisationRules,
    folder: Path,
) -> Lookalike:
    """Resolve the seed, measure the held-out precision, publish the top `size` customers
    (table `activation.lookalike_members`, files `<folder>/lookalike_<name>/...`), and log
    the build as an MLflow run."""
    import mlflow

    from seg_platform.core.mlflow_registry import load_registered
    from seg_platform.segmentation.data import feature_columns, load_features

    if req.month is None:
        as_of_date = latest_month(con)
    else:
        from seg_platform.core.calendar import month_parameters

        try:
            as_of_date = month_parameters(req.month)["as_of_date"]
        except ValueError:
            raise LookalikeError(f"{req.month!r} is not a month: write it as YYYY-MM") from None
    month = month_key(as_of_date)
    assignments = fetch_frame(
        con,
        "SELECT profile_id, segment_id, model_version FROM segments.segment_assignments "
        "WHERE as_of_date = ? ORDER BY profile_id",
        [as_of_date],
    ) if table_exists(con, "segments", "segment_assignments") else pl.DataFrame()  # fmt: skip
    if assignments.is_empty():
        raise LookalikeError(f"no segments for {month}: run the pipeline for that month first")
    if req.segment is not None:
        members = assignments.filter(pl.col("segment_id") == req.segment)["profile_id"]
        if members.is_empty():
            known = sorted(set(assignments["segment_id"].to_list()))
            raise LookalikeError(
                f"segment {req.segment} has no members in {month}; segments: "
                f"{', '.join(map(str, known))}"
            )
        seed_ids, unresolved, source = members.to_list(), 0, f"segment {req.segment}"
    else:
        assert req.seed is not None
        seed_ids, unresolved = resolve_seed(con, read_seed(req.seed), rules)
        source = f"file {req.seed.name}"
    index = {p: i for i, p in enumerate(assignments["profile_id"].to_list())}
    seed = np.zeros(assignments.height, dtype=bool)
    seed[[index[p] for p in seed_ids if p in index]] = True
    if seed.sum() < MIN_SEED:
        raise LookalikeError(
            f"the seed has {int(seed.sum())} customers segmented in {month} "
            f"({unresolved:,} seed rows matched no customer): at least {MIN_SEED} are needed"
        )
    if seed.all():
        raise LookalikeError("the seed holds every customer: nobody is left to score")

    features = load_features(con, as_of_date)
    columns = feature_columns(features)
    X = (
        assignments.select("profile_id")
        .join(features, on="profile_id", how="left", maintain_order="left")
        .select(columns)
        .to_numpy()
        .astype(np.float64)
    )
    tracking.setup()
    version = int(assignments["model_version"][0])
    model = load_registered(
        tracking.uri(), tracking.client().get_model_version(tracking.registered_model, str(version))
    )
    Z = model[:-1].transform(X)

    metrics = holdout_precision(Z, seed, salt=req.name, ids=assignments["profile_id"].to_list())
    scores = similarity(Z, np.flatnonzero(seed))
    others = np.flatnonzero(~seed)
    top = others[np.argsort(-scores[others], kind="stable")[: req.size]]
    ids = assignments["profile_id"].to_numpy()
    audience = pl.DataFrame(
        {
            "as_of_date": [as_of_date] * len(top),
            "audience": [req.name] * len(top),
            "rank": np.arange(1, len(top) + 1, dtype=np.int64),
            "profile_id": ids[top].tolist(),
            "similarity": np.round(scores[top], 6),
        },
        schema={"as_of_date": pl.Date, "audience": pl.String, "rank": pl.Int64,
                "profile_id": pl.String, "similarity": pl.Float64},
    )  # fmt: skip

    experiment_id = tracking.setup(EXPERIMENT)
    with mlflow.start_run(run_name=f"lookalike {req.name} {month}") as run:
        mlflow.log_params(
            {"audience": req.name, "month": month, "seed": source, "size": req.size,
             "seed_customers": int(seed.sum()), "unresolved_seed_rows": unresolved,
             "model_version": version, "neighbours": NEIGHBOURS, "holdout_share": HOLDOUT_SHARE}
        )  # fmt: skip
        mlflow.log_metrics({**metrics, "audience_size": float(audience.height)})
    run_url = tracking.run_url(experiment_id, run.info.run_id)

    destination = aud.LOOKALIKE_PREFIX + req.name
    aud.ensure_tables(con)
    written = FileDestination(destination, folder).publish(
        month, {"members": lookalike_file_frame(audience)}
    )
    build = pl.DataFrame(
        {"as_of_date": [as_of_date], "audience": [req.name], "seed": [source],
         "seed_customers": [int(seed.sum())], "unresolved_seed_rows": [unresolved],
         "size": [audience.height], "holdout_precision": [metrics["holdout_precision"]],
         "random_precision": [metrics["random_precision"]], "model_version": [version],
         "mlflow_run_id": [run.info.run_id]},
        schema={"as_of_date": pl.Date, "audience": pl.String, "seed": pl.String,
                "seed_customers": pl.Int64, "unresolved_seed_rows": pl.Int64, "size": pl.Int64,
                "holdout_precision": pl.Float64, "random_precision": pl.Float64,
                "model_version": pl.Int64, "mlflow_run_id": pl.String},
    )  # fmt: skip
    _replace_audience(con, MEMBERS, audience, as_of_date, req.name)
    _replace_audience(con, BUILDS, build, as_of_date, req.name)
    record_written(con, destination, as_of_date, written)
    return Lookalike(
        req.name, month, int(seed.sum()), unresolved, audience.drop("as_of_date", "audience"),
        metrics, run.info.run_id, run_url, [w.file for w in written],
    )  # fmt: skip


def _replace_audience(con, table: str, frame: pl.DataFrame, as_of_date, name: str) -> None:
    """The audience's rows of the month replaced by `frame` (other audiences kept)."""
    frame_to_temp_table(con, "_lookalike_new", frame)
    source = "_lookalike_new"
    if table_exists(con, *table.split(".")):
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _lookalike_all AS FROM _lookalike_new UNION ALL BY "
            f"NAME (FROM {table} WHERE as_of_date = ? AND audience <> ?) ORDER BY ALL",
            [as_of_date, name],
        )
        source = "_lookalike_all"
    replace_partition(con, table, source, "as_of_date", as_of_date)
    con.execute("DROP TABLE IF EXISTS _lookalike_new; DROP TABLE IF EXISTS _lookalike_all")


def build_from_home(
    name: str,
    size: int,
    segment: int | None,
    seed: str | None,
    month: str | None,
    tracking: Tracking,
    folder: Path,
) -> Lookalike:
    """`seg-platform lookalike`: validate the request, open the platform home's warehouse and
    build. LookalikeError (one line for the user) on any mistake."""
    from seg_platform.core import settings
    from seg_platform.core.identity_rules import IdentityRules
    from seg_platform.core.warehouse import WarehouseLockedError, connect

    req = request(name=name, size=size, segment=segment,
                  seed=Path(seed) if seed else None, month=month)  # fmt: skip
    home = settings.platform_home()
    if not home.warehouse.exists():
        raise LookalikeError(
            f"no warehouse in {home.root}: run the pipeline first: "
            f"{settings.command_hint('run', home)}"
        )
    try:
        with connect(home.warehouse) as con:
            return build_lookalike(con, req, tracking, IdentityRules(), folder)
    except WarehouseLockedError as exc:
        raise LookalikeError(f"{exc}; try again when the run has finished") from None


def summary(built: Lookalike) -> str:
    m = built.metrics
    return (
        f"Lookalike audience {built.name!r} ({built.month}): {built.audience.height:,} "
        f"customers from a seed of {built.seed_customers:,} ({built.unresolved:,} seed rows "
        f"matched no customer).\n  held-out precision {m['holdout_precision']:.3f} against "
        f"{m['random_precision']:.3f} for a random audience ({m['lift_over_random']}x)\n"
        f"  files: {', '.join(built.files)}\n  MLflow run: {built.run_url}"
    )
