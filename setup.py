"""Build hook: the wheel ships the top-level `dbt_like_sql/` as `seg_platform/dbt_like_sql/`.

The SQL models stay at the top of the repository, where analysts edit them, yet a non-editable
install needs them inside the package (`SQL_ROOT` looks there first). Everything else about the
build is declared in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SQL_MODELS = Path(__file__).resolve().parent / "dbt_like_sql"


class BuildPyWithSqlModels(build_py):
    def run(self) -> None:
        super().run()
        # An editable install reads the models from the checkout: nothing to copy.
        if not getattr(self, "editable_mode", False):
            target = Path(self.build_lib) / "seg_platform" / "dbt_like_sql"
            shutil.copytree(SQL_MODELS, target, dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildPyWithSqlModels})
