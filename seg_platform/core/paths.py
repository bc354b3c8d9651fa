"""Where the package finds the files it ships beside its code: the SQL models."""

from pathlib import Path

import seg_platform

_PACKAGE = Path(seg_platform.__file__).resolve().parent
# A wheel ships the SQL models as package data inside the package; a checkout keeps them in the
# repository's top-level folder, beside the package.
SQL_ROOT = (
    _PACKAGE / "dbt_like_sql"
    if (_PACKAGE / "dbt_like_sql").is_dir()
    else _PACKAGE.parent / "dbt_like_sql"
)
