"""Build warehouses for feature tests: landing CSVs -> raw -> identity -> staging -> features."""

from pathlib import Path

from seg_platform.core.identity_rules import IdentityRules
from seg_platform.core.paths import SQL_ROOT
from seg_platform.core.warehouse import connect
from seg_platform.identity.build import build_identity
from seg_platform.sources.config import load_sources_config
from seg_platform.sources.contract import SOURCES
from seg_platform.sources.ingest import ingest_source
from seg_platform.sql_models.project import load_project
from seg_platform.sql_models.run import build_model

MODELS = load_project(SQL_ROOT)
FEATURES = next(m for m in MODELS if m.table == "features.customer_features")


def write_landing(root: Path, tables: dict[str, list[dict]]) -> Path:
    """One CSV per source (header from the contract), and the sources.yaml naming them."""
    lines = ["version: 1", "sources:"]
    for source, rows in tables.items():
        columns = SOURCES[source].column_names
        folder = root / source
        folder.mkdir(parents=True, exist_ok=True)
        body = [",".join(columns)]
        body += [",".join(str(row.get(c, "")) for c in columns) for row in rows]
        (folder / f"{source}.csv").write_text("\n".join(body) + "\n")
        lines += [f"  {source}:", f"    path: {source}/*.csv"]
    (root / "sources.yaml").write_text("\n".join(lines) + "\n")
    return root / "sources.yaml"


def build_all(database: Path, sources_yaml: Path, months: list[str]) -> None:
    """Load every configured source, resolve identities, build staging and the months' features."""
    config = load_sources_config(sources_yaml)
    with connect(database) as con:
        for source in SOURCES.values():
            ingest_source(con, source, config)
        build_identity(con, IdentityRules(), "test")
        for model in MODELS:
            if model.partitioned:
                for month in months:
                    build_model(con, model, month)
            else:
                build_model(con, model)


def month_digest(database: Path, as_of_date: str) -> tuple[int, str]:
    """Rows and an MD5 over every value of one month's features, in a fixed row order."""
    with connect(database) as con:
        return con.execute(
            "SELECT count(*), md5(string_agg(CAST(f AS VARCHAR), '\n' ORDER BY profile_id)) "
            "FROM features.customer_features f WHERE as_of_date = ?",
            [as_of_date],
        ).fetchall()[0]
