"""User mistakes at the command line get one clear message and a non-zero exit, no traceback."""

import os
import subprocess
import sys


def cli(*args, home):
    env = {**os.environ, "SEG_PLATFORM_HOME": str(home)}
    env.pop("SEG_PLATFORM_SOURCES", None)
    return subprocess.run(
        [sys.executable, "-m", "seg_platform.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_run_without_sources_says_how_to_get_some(tmp_path):
    done = cli("run", home=tmp_path / "home")
    assert done.returncode == 2
    assert "No sources.yaml at" in done.stderr and "make demo" in done.stderr
    assert "Traceback" not in done.stderr


def test_run_with_an_unknown_source_names_the_known_ones(tmp_path):
    (tmp_path / "s.yaml").write_text("version: 1\nsources:\n  clicks: {path: x.csv}\n")
    done = cli("run", "--sources", str(tmp_path / "s.yaml"), home=tmp_path / "home")
    assert done.returncode == 2
    assert "unknown source 'clicks'. Known sources: web_events, app_events" in done.stderr
    assert "Traceback" not in done.stderr


def test_generate_rejects_bad_arguments(tmp_path):
    done = cli("generate", "--customers", "0", "--out", str(tmp_path / "o"), home=tmp_path)
    assert done.returncode == 2 and done.stderr.startswith("error: ")
    assert "Traceback" not in done.stderr


def test_evaluate_needs_a_truth_folder(tmp_path):
    done = cli("evaluate", "--truth", str(tmp_path), home=tmp_path / "home")
    assert done.returncode == 2 and "not a truth folder" in done.stderr
