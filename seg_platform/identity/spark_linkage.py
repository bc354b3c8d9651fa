"""Probabilistic linkage on Spark (issue 22): Splink's Spark backend scores every blocked pair
with the model trained on one machine.

Training (u by sampling, m by EM, the prior from deterministic rules) needs a sample, not every
record, and runs on the driver with DuckDB exactly as `linkage.predict_links` does; its
`report["model"]` is Splink's model JSON. Scoring is the part that grows with the data (every
blocked pair, term frequencies over every record): `predict_links_on_spark` runs it on the
executors through `splink.backends.spark.SparkAPI`, with the model's SQL moved from DuckDB's
dialect to Spark's (`spark_model`), so both engines give the same pairs and probabilities.

The string similarities (Jaro-Winkler, Damerau-Levenshtein) are DuckDB's own, run on the
executors (`register_similarities`): the Scala UDFs of the jar inside the Splink wheel give
other Jaro-Winkler values for some strings, so a pair would land on another level. The jar is
still on the class path (`core.spark.session`; nothing is downloaded): Splink's Spark backend
registers its functions at start. Spark Connect sessions are not supported by Splink 5's
Spark backend.
"""

import copy
import re
from collections.abc import Sequence
from typing import Any

import sqlglot
from sqlglot import exp

from seg_platform.identity.linkage import (
    OUTPUT_COLUMNS,
    PROBABILITY_DECIMALS,
    SPLINK_LOG_LEVEL,
    LinkageSpec,
)

_SPARK_FORMAT = re.compile(r"'([^']*)'\)$")

# String similarities whose values differ between DuckDB and the Scala UDFs of Splink's jar
# (Jaro-Winkler: "toronto" / "tornto" 0.928 on DuckDB, 0.908 in the jar, either side of a
# 0.92 level), run on the executors by DuckDB itself: the same function gives the same level.
_UDFS = {
    "jaro_winkler_similarity": "seg_jaro_winkler_similarity",
    "damerau_levenshtein": "seg_damerau_levenshtein",
}
_UDF_TYPES = {"jaro_winkler_similarity": "double", "damerau_levenshtein": "bigint"}


def _to_spark_sql(condition: str) -> str:
    """A Splink SQL condition in DuckDB's dialect, in Spark's, with Splink's UDF names."""

    def rewrite(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Anonymous) and node.name.lower() == "try_strptime":
            # DuckDB's try_strptime is Spark's try_to_timestamp (null, not an error, on a
            # string that is no date), with the format in Spark's pattern letters.
            value, fmt = node.expressions
            spark_format = sqlglot.transpile(f"strptime(x, {fmt.sql()})", "duckdb", "spark")[0]
            match = _SPARK_FORMAT.search(spark_format)
            if match is None:
                raise ValueError(f"date format {fmt.sql()} has no Spark equivalent")
            return exp.Anonymous(
                this="try_to_timestamp",
                expressions=[value.copy(), exp.Literal.string(match.group(1))],
            )
        if isinstance(node, exp.JarowinklerSimilarity):
            return exp.Anonymous(
                this=_UDFS["jaro_winkler_similarity"],
                expressions=[node.this.copy(), node.expression.copy()],
            )
        if isinstance(node, exp.Anonymous) and node.name.lower() in _UDFS:
            return exp.Anonymous(
                this=_UDFS[node.name.lower()], expressions=[e.copy() for e in node.expressions]
            )
        return node

    if condition.strip().upper() == "ELSE":
        return condition
    tree = sqlglot.parse_one(condition, read="duckdb").transform(rewrite)
    return tree.sql(dialect="spark")


def spark_model(model: dict) -> dict:
    """Splink's model JSON trained on DuckDB, for Splink's Spark backend: the same levels,
    m and u probabilities and prior, every SQL condition and blocking rule in Spark's dialect."""
    if model.get("sql_dialect") != "duckdb":
        raise ValueError(f"expected a model trained on DuckDB, got {model.get('sql_dialect')!r}")
    out = copy.deepcopy(model)
    out["sql_dialect"] = "spark"
    for comparison in out["comparisons"]:
        for level in comparison["comparison_levels"]:
            level["sql_condition"] = _to_spark_sql(level["sql_condition"])
    for rule in out.get("blocking_rules_to_generate_predictions", []):
        rule["blocking_rule"] = _to_spark_sql(rule["blocking_rule"])
        rule["sql_dialect"] = "spark"
    return out


def normalise_on_spark(frame: Any, spec: LinkageSpec, id_column: str) -> Any:
    """`linkage._normalise` in Spark: the id and compared columns as trimmed lower-case
    strings, empty as null, dates as YYYYMMDD."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DateType, TimestampNTZType, TimestampType

    missing = [c for c in (id_column, *spec.columns) if c not in frame.columns]
    if missing:
        raise ValueError(f"input frame lacks columns {missing}")
    types = {f.name: f.dataType for f in frame.schema.fields}
    columns = [F.col(id_column)]
    for name in spec.columns:
        if isinstance(types[name], DateType | TimestampType | TimestampNTZType):
            text = F.date_format(name, "yyyyMMdd")
        else:
            # Unicode white space, as Python's str.strip (and polars' strip_chars) removes it.
            stripped = F.regexp_replace(F.col(name).cast("string"), r"(?U)^\s+|\s+$", "")
            text = F.lower(stripped)
        columns.append(F.when(text == "", None).otherwise(text).alias(name))
    return frame.select(columns)


def register_similarities(spark: Any) -> None:
    """DuckDB's string similarity functions as Spark SQL functions (vectorised UDFs that hand
    each Arrow batch to an in-memory DuckDB on the executor)."""
    from pyspark.sql.functions import pandas_udf

    for function, name in _UDFS.items():
        # Typed as Any: pyspark's overloads want a literal type hint, and the guards also run
        # where the spark extra is not installed.
        make_udf: Any = pandas_udf
        udf = make_udf(_duckdb_function(function), _UDF_TYPES[function])
        spark.udf.register(name, udf)


def _duckdb_function(function: str) -> Any:
    """A vectorised `function(a, b)` computed by an in-memory DuckDB."""
    import pandas as pd

    def call(a: pd.Series, b: pd.Series) -> pd.Series:
        import pyarrow as pa

        from seg_platform.core.warehouse import memory_connection

        pairs = pa.table({"a": pa.array(a, pa.string()), "b": pa.array(b, pa.string())})
        con = memory_connection()
        try:
            con.register("pairs", pairs)
            out = con.sql(f"SELECT {function}(a, b) AS v FROM pairs").to_arrow_table()
        finally:
            con.close()
        return out.column("v").to_pandas()

    return call


def predict_links_on_spark(
    spark: Any,
    frames: Sequence[Any],
    spec: LinkageSpec,
    model: dict,
    id_column: str = "unique_id",
) -> Any:
    """Pairs at or above `spec.threshold`, as `linkage.predict_links` gives them, scored on
    Spark with `model` (Splink's JSON from `predict_links(..., report=...)["model"]`).

    `frames` are Spark DataFrames normalised by `normalise_on_spark` (one for dedupe_only,
    two or more for link_only, in the order DuckDB saw them). Returns a Spark DataFrame
    `id_l, id_r, match_probability` (earlier frame / smaller id left).
    """
    from pyspark.sql import functions as F
    from splink import Linker
    from splink.backends.spark import SparkAPI

    api = SparkAPI(spark_session=spark, break_lineage_method="persist")
    register_similarities(spark)
    # Registered under the names DuckDB's run gives its frames (Splink orders a link's pairs
    # by them), in place of an earlier run's in this session.
    for i in range(len(frames)):
        spark.catalog.dropTempView(f"frame_{i:04d}")
    tables = [
        api.register(frame, dataset_display_name=f"frame_{i:04d}") for i, frame in enumerate(frames)
    ]
    linker = Linker(
        tables[0] if spec.link_type == "dedupe_only" else tables,
        spark_model(model),
        log_level=SPLINK_LOG_LEVEL,
    )
    predictions = linker.inference.predict(
        threshold_match_probability=spec.threshold, warning_mode="never"
    ).as_spark_dataframe()
    if "source_dataset_l" in predictions.columns:
        swap = F.col("source_dataset_l") > F.col("source_dataset_r")
    else:
        swap = F.col(f"{id_column}_l") > F.col(f"{id_column}_r")
    left, right = F.col(f"{id_column}_l"), F.col(f"{id_column}_r")
    return predictions.select(
        F.when(swap, right).otherwise(left).alias(OUTPUT_COLUMNS[0]),
        F.when(swap, left).otherwise(right).alias(OUTPUT_COLUMNS[1]),
        F.round("match_probability", PROBABILITY_DECIMALS).alias(OUTPUT_COLUMNS[2]),
    ).where(F.col(OUTPUT_COLUMNS[2]) >= spec.threshold)


class SparkScorer:
    """`identity.linkage_store.Scorer` on Spark: the blocked contact pairs of an identity
    build scored by `predict_links_on_spark` with the model trained (or stored) on the driver
    (`build_identity(..., scorer=SparkScorer(spark))`). The contacts cross to Spark as Arrow
    and the pairs come back as `linkage.predict_links` returns them: the same columns and id
    type, sorted by `id_l, id_r`. Needs a classic session (Splink's Spark backend does not
    run on Spark Connect)."""

    def __init__(self, spark: Any) -> None:
        self.spark = spark

    def __call__(self, frames: Any, spec: LinkageSpec, model: dict) -> Any:
        import polars as pl

        frame_list = [frames] if isinstance(frames, pl.DataFrame) else list(frames)
        id_dtype = frame_list[0].schema["unique_id"]
        schema = pl.Schema(zip(OUTPUT_COLUMNS, (id_dtype, id_dtype, pl.Float64()), strict=True))
        if any(f.height == 0 for f in frame_list):
            return pl.DataFrame(schema=schema)
        inputs = [
            normalise_on_spark(self.spark.createDataFrame(f.to_arrow()), spec, "unique_id")
            for f in frame_list
        ]
        pairs = predict_links_on_spark(self.spark, inputs, spec, model, "unique_id")
        out = pl.from_arrow(pairs.toArrow())
        if not isinstance(out, pl.DataFrame):
            raise TypeError("Spark returned no table of pairs")
        return out.select(OUTPUT_COLUMNS).cast(schema).sort(["id_l", "id_r"])


__all__ = [
    "SparkScorer",
    "normalise_on_spark",
    "predict_links_on_spark",
    "register_similarities",
    "spark_model",
]
