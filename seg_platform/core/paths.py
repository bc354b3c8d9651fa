"""Where the package finds the files it ships beside its code: the SQL models."""

from pathlib import Path

import seg_platform


def sql_root(package: Path) -> Path:
    """The SQL models' folder for the package installed at `package`: a wheel ships them as
    package data inside the package; a checkout keeps them in the repository's top-level
    folder, beside the package."""
    inside = package / "dbt_like_sql"
    return inside if inside.is_dir() else package.parent / "dbt_like_sql"


SQL_ROOT = sql_root(Path(seg_platform.__file__).resolve().parent)
