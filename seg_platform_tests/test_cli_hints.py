"""The CLI's hints carry the platform home, its arguments explain themselves in --help, and a
wrong month or a busy port is one clear line with exit code 2, before anything starts."""

import socket
import time
from pathlib import Path

import pytest
import yaml

from seg_platform.core import settings
from seg_platform.runner import print_next_steps
from seg_platform_tests.test_cli import cli

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("month", ["2025/12", "12-2025", "2025-13", "2025-12-01", "latest"])
def test_a_wrong_month_is_a_format_error(tmp_path, month):
    done = cli("candidates", "--month", month, home=tmp_path / "home")
    assert done.returncode == 2
    assert f"argument --month: '{month}' is not a month: write it as YYYY-MM" in done.stderr
    assert "run the pipeline" not in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "home").exists()  # refused before anything was opened


def test_generate_refuses_a_wrong_end_month(tmp_path):
    done = cli("generate", "--out", str(tmp_path / "c"), "--end-month", "2025/12", home=tmp_path)
    assert done.returncode == 2 and "'2025/12' is not a month" in done.stderr
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("command", ["ui", "mlflow-ui"])
def test_a_port_in_use_is_reported_at_once(tmp_path, command):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        done = cli(command, "--port", str(port), home=tmp_path / "home")
        seconds = time.monotonic() - started
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"error: port {port} on 127.0.0.1 is already in use")
    assert "--port N" in done.stderr and "Traceback" not in done.stderr
    assert seconds < 30  # measured about 0.2 s; MLflow alone took about 3 minutes to say so


def test_a_port_out_of_range_is_refused(tmp_path):
    done = cli("ui", "--port", "70000", home=tmp_path)
    assert done.returncode == 2 and "'70000' is not a port" in done.stderr


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("generate", ["how many customers the synthetic company has (default: 2000)",
                      "how many months of history it writes", "(default: 12)",
                      "random seed: the same seed writes the same company (default: 42)"]),
        ("demo", ["how many customers the synthetic company has (default: 2000)",
                  "how many months of history the sample has", "(default: 12)"]),
        ("ui", ["TCP port on 127.0.0.1 to serve on (default: 3000)"]),
        ("mlflow-ui", ["TCP port on 127.0.0.1 to serve on (default: 5000)"]),
    ],
)  # fmt: skip
def test_help_gives_meaning_and_default(tmp_path, command, expected):
    done = cli(command, "--help", home=tmp_path)
    assert done.returncode == 0
    text = " ".join(done.stdout.split())  # argparse wraps lines at the terminal's width
    for phrase in expected:
        assert phrase in text, text


def test_next_steps_carry_the_home(tmp_path, capsys):
    home = settings.platform_home(tmp_path / "my home")
    print_next_steps(home)
    out = capsys.readouterr().out
    quoted = f"--home '{home.root}'"  # a space in the path: quoted for the shell
    for command in ("ui", "mlflow-ui", "candidates"):
        assert f"seg-platform {command} {quoted}" in out, out
    assert "make ui" not in out and "make mlflow-ui" not in out


def test_score_day_without_a_warehouse_names_the_home_to_run(tmp_path):
    done = cli("score-day", home=tmp_path / "home")
    assert done.returncode == 2
    assert f"seg-platform run --home {tmp_path / 'home'}" in done.stderr, done.stderr


def test_one_code_location_name_however_the_ui_is_started():
    from seg_platform.ui_server import LOCATION_NAME

    workspace = yaml.safe_load((REPO / "workspace.yaml").read_text())
    (entry,) = workspace["load_from"]
    assert entry["python_module"]["location_name"] == LOCATION_NAME == settings.CODE_LOCATION


def test_mlflow_ui_records_its_port_and_the_links_follow(tmp_path, monkeypatch):
    """Run links (the segment report's on the Dagster asset page, the demo's closing lines)
    use the port `seg-platform mlflow-ui --port P` serves on, not a fixed 5000."""
    from seg_platform import cli as cli_module
    from seg_platform.core.tracking import MlflowResource

    started = []
    monkeypatch.setattr(cli_module, "_exec", lambda cmd, env: started.append(cmd) or 0)
    monkeypatch.setenv(settings.HOME_ENV, str(tmp_path / "home"))
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    assert (
        cli_module.main(["mlflow-ui", "--port", str(port), "--home", str(tmp_path / "home")]) == 0
    )
    assert started and started[0][started[0].index("--port") + 1] == str(port)
    home = settings.platform_home()
    ui = f"http://127.0.0.1:{port}"
    assert settings.mlflow_ui_url(home) == ui
    link = MlflowResource().artifact_url("7", "abc", "segment_report_2025-12.html")
    assert link.startswith(f"{ui}/#/experiments/7/runs/abc/artifacts/segment_report_2025-12.html")
    # A configured ui_url still wins; a garbled record falls back to the default port.
    assert (
        MlflowResource(ui_url="http://mlflow.example:80")
        .run_url("7", "abc")
        .startswith("http://mlflow.example:80/#/")
    )
    home.mlflow_ui_file.write_text('{"url": "file:///etc/passwd"}')
    assert settings.mlflow_ui_url(home) == "http://127.0.0.1:5000"


def test_next_steps_point_at_the_mlflow_port_in_use(tmp_path, capsys):
    home = settings.platform_home(tmp_path / "home")
    settings.record_mlflow_ui(home, 5123)
    print_next_steps(home)
    out = capsys.readouterr().out
    assert "MLflow UI (model runs) -> http://127.0.0.1:5123" in out, out
