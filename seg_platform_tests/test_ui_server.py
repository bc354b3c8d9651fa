"""`seg-platform ui` creates the instance's storage alone, before it starts the daemon: on a fresh
home, the daemon and the code server creating it at the same moment stamped its schema twice and
the code location failed to load ("alembic_version has more than one head present")."""

import signal

from seg_platform import ui_server


def test_the_storage_exists_before_the_daemon_starts(home, monkeypatch):
    storage = home.dagster_home
    seen = {}

    def daemon_starts(cmd, **kwargs):
        seen["cmd"] = cmd
        seen["runs"] = (storage / "history" / "runs.db").exists()
        seen["schedules"] = (storage / "schedules" / "schedules.db").exists()
        raise KeyboardInterrupt  # stop here: nothing else is started

    monkeypatch.setattr(ui_server.subprocess, "Popen", daemon_starts)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        assert ui_server.serve(port=1) == 0
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert seen["cmd"][1:3] == ["run", "-w"]
    assert seen["runs"] and seen["schedules"], seen
