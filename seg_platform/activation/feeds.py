"""The published feeds as tables give them: one destination-month's rows, the record of what was
written, and `FeedErasure`, the feeds' side of erasure (`privacy.published.PublishedOutputs`).
Plain DuckDB, no Dagster."""

import datetime as dt
from pathlib import Path

import polars as pl

from seg_platform.activation import audiences as aud
from seg_platform.activation.config import Destination, load_destinations
from seg_platform.activation.destinations import DEFAULT_KIND, Written, make_destination
from seg_platform.core.calendar import month_key
from seg_platform.core.warehouse import (
    fetch_frame,
    frame_to_temp_table,
    quote,
    replace_tables,
    table_exists,
)
from seg_platform.core.yaml_files import sql_string


def feed_frames(con, destination, as_of_date: dt.date) -> dict[str, pl.DataFrame]:
    """One destination-month's feed rows from the tables, by feed kind, in a stable order."""
    name = destination.name
    ids = ", ".join(quote(i) for i in destination.identifiers)
    # Ad audiences (hashed_only) get no reasons; feeds written before members carried reasons
    # are rewritten by erasure as they were.
    known = {r[0] for r in con.execute(f"DESCRIBE {aud.FEED}").fetchall()}
    reasons = "reasons, " if "reasons" in known and not destination.hashed_only else ""
    members = fetch_frame(
        con,
        f"SELECT strftime(as_of_date, '%Y-%m') AS month, destination, profile_id, "
        f"audience_kind, audience, segment_id, segment_name, action_type, action, {reasons}"
        f"{ids} FROM {aud.FEED} WHERE destination = ? AND as_of_date = ? "
        "ORDER BY audience_kind DESC, audience, profile_id",
        [name, as_of_date],
    )
    changes = fetch_frame(
        con,
        f"SELECT strftime(as_of_date, '%Y-%m') AS month, destination, profile_id, "
        f"audience_kind, change, audience, previous_audience FROM {aud.CHANGES} "
        "WHERE destination = ? AND as_of_date = ? "
        "ORDER BY audience_kind DESC, change, profile_id, audience",
        [name, as_of_date],
    )
    return {"members": members, "changes": changes}


def lookalike_file_frame(audience: pl.DataFrame) -> pl.DataFrame:
    """A lookalike audience's published rows: month, audience, rank, profile id, similarity."""
    return audience.sort("rank").select(
        pl.col("as_of_date").dt.strftime("%Y-%m").alias("month"),
        "audience", "rank", "profile_id", "similarity",
    )  # fmt: skip


def lookalike_frames(con, name: str, as_of_date: dt.date) -> dict[str, pl.DataFrame]:
    """The lookalike audience `lookalike_<name>`'s rows of the month, from its table."""
    audience = fetch_frame(
        con,
        f"SELECT as_of_date, audience, rank, profile_id, similarity FROM "
        f"{aud.LOOKALIKE_MEMBERS} WHERE audience = ? AND as_of_date = ? ORDER BY rank",
        [name.removeprefix(aud.LOOKALIKE_PREFIX), as_of_date],
    )
    return {"members": lookalike_file_frame(audience)}


def record_written(con, name: str, as_of_date: dt.date, written: list[Written]) -> int:
    """Replace the destination-month's rows of `activation.published_feeds`; files written."""
    frame = pl.DataFrame(written, schema=["kind", "file", "rows", "sha256"], orient="row")
    frame = frame.with_columns(as_of_date=pl.lit(as_of_date), destination=pl.lit(name)).select(
        "as_of_date", "destination", "kind", "file", "rows", "sha256"
    )
    frame_to_temp_table(con, "_published", frame)
    replace_tables(con, [(aud.PUBLISHED, f"""DELETE FROM {aud.PUBLISHED}
        WHERE destination = {sql_string(name)}
          AND as_of_date = DATE {sql_string(as_of_date.isoformat())}"""),
        (aud.PUBLISHED, f"INSERT INTO {aud.PUBLISHED} FROM _published")])  # fmt: skip
    return len(written)


class FeedErasure:
    """Erasure's view of the feeds: which destination-months held an erased person, and each
    written again from the tables once the person is gone. A destination no longer in the
    configuration keeps its old files as they are."""

    def __init__(self, destinations_yaml: str | None, folder: Path):
        self.destinations_yaml = destinations_yaml
        self.folder = folder
        self._destinations: dict[str, Destination] | None = None

    def check_config(self) -> None:
        self._destinations = {d.name: d for d in load_destinations(self.destinations_yaml)}

    def holding(self, con) -> list[tuple[str, dt.date]]:
        tables = [t for t in ("feed_members", "feed_changes") if table_exists(con, aud.SCHEMA, t)]
        parts = [
            f"SELECT destination, as_of_date FROM {aud.SCHEMA}.{t} "
            "WHERE profile_id IN (SELECT profile_id FROM _erased_profiles)"
            for t in tables
        ]
        if table_exists(con, *aud.LOOKALIKE_MEMBERS.split(".")):
            parts.append(
                f"SELECT '{aud.LOOKALIKE_PREFIX}' || audience, as_of_date FROM "
                f"{aud.LOOKALIKE_MEMBERS} "
                "WHERE profile_id IN (SELECT profile_id FROM _erased_profiles)"
            )
        if not parts:
            return []
        return con.execute(" UNION ".join(parts) + " ORDER BY ALL").fetchall()

    def scrub(self, con, outputs: list[tuple[str, dt.date]], profile_ids: list[str]) -> int:
        if not outputs or not table_exists(con, aud.SCHEMA, "published_feeds"):
            return 0
        if self._destinations is None:
            self.check_config()
        assert self._destinations is not None
        published = set(
            con.execute(f"SELECT DISTINCT destination, as_of_date FROM {aud.PUBLISHED}").fetchall()
        )
        rewritten = 0
        for name, as_of_date in outputs:
            if (name, as_of_date) not in published:
                continue
            if name in self._destinations:
                spec = self._destinations[name]
                target = make_destination(name, spec.kind, self.folder)
                remaining = feed_frames(con, spec, as_of_date)
            elif name.startswith(aud.LOOKALIKE_PREFIX):  # `seg-platform lookalike` files
                target = make_destination(name, DEFAULT_KIND, self.folder)
                remaining = lookalike_frames(con, name, as_of_date)
            else:
                continue
            written = target.erase(month_key(as_of_date), profile_ids, remaining)
            rewritten += record_written(con, name, as_of_date, written)
        return rewritten
