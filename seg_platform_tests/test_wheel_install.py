"""The built wheel works on its own: installed in a fresh virtualenv outside the checkout, it
loads the Definitions with the SQL models it ships (staging and features assets)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
UV = Path(sys.executable).with_name("uv")  # `make setup` installs uv into the venv
# What the build reads: the sdist is built from these, then the wheel from the sdist.
BUILD_INPUTS = ["pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "seg_platform"]

LOAD = """
import json, sys
import seg_platform
from seg_platform.definitions import defs
from seg_platform.core.paths import SQL_ROOT
graph = defs.resolve_asset_graph()
groups = {}
for key in graph.get_all_asset_keys():
    groups.setdefault(graph.get(key).group_name, []).append(key.to_user_string())
print(json.dumps({"package": seg_platform.__file__, "sql_root": str(SQL_ROOT),
                  "groups": {g: sorted(keys) for g, keys in groups.items()}}))
"""


def run(args: list, **kwargs) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, **kwargs)
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_wheel_in_a_fresh_venv_loads_the_definitions_with_the_sql_models(tmp_path):
    source = tmp_path / "source"  # a copy, so the build writes nothing into the checkout
    source.mkdir()
    for name in [*BUILD_INPUTS, "dbt_like_sql"]:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, source / name)
    run([UV, "build", "--quiet", "--out-dir", tmp_path / "dist", source])
    (wheel,) = (tmp_path / "dist").glob("seg_platform-*.whl")

    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    run([UV, "venv", "--quiet", "--python", sys.executable, venv])
    locked = REPO / "requirements.lock"
    run([UV, "pip", "install", "--quiet", "--python", python, "-r", locked])
    run([UV, "pip", "install", "--quiet", "--python", python, "--no-deps", wheel])

    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(SEG_PLATFORM_HOME=str(tmp_path / "home"), DAGSTER_HOME=str(tmp_path / "dagster"))
    loaded = json.loads(run([python, "-c", LOAD], cwd=cwd, env=env).splitlines()[-1])

    site = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    assert Path(loaded["package"]).is_relative_to(site), loaded["package"]
    assert Path(loaded["sql_root"]) == Path(loaded["package"]).parent / "dbt_like_sql"
    shipped = {p.stem: p.parent.name for p in (REPO / "dbt_like_sql").glob("*/*.sql")}
    assert {"staging", "features"} <= set(shipped.values())
    for table, layer in shipped.items():
        key = f"{layer}/{table}"  # the asset of the SQL file, keyed by its layer
        assert key in loaded["groups"].get(layer, []), (key, layer, loaded["groups"])
