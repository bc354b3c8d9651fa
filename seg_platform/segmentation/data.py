"""The segmentation group's tables, and the features it clusters: read by the segmentation
assets and by later groups (segments, daily scoring)."""

import datetime as dt

import duckdb
import polars as pl

FEATURES = "features.customer_features"
SEGMENTS = "segmentation.customer_segments"
CANDIDATES = "segmentation.candidates"


def load_features(con: duckdb.DuckDBPyConnection, as_of_date: dt.date) -> pl.DataFrame:
    """The month's features of known customers (at least one non-anonymous identifier)."""
    return con.sql(
        f"SELECT f.* FROM {FEATURES} f JOIN identity.profiles p USING (profile_id) "
        f"WHERE p.known AND f.as_of_date = '{as_of_date}' ORDER BY f.profile_id"
    ).pl()


def feature_columns(frame: pl.DataFrame) -> list[str]:
    """The numeric columns of `frame`: what the clusterer reads."""
    return [c for c, t in frame.schema.items() if t.is_numeric()]
