"""`seg-platform ui` loads the code location with no error, refuses cross-site requests and
stops cleanly (a real server)."""

import http.client
import json
import os
import re
import signal
import sys
import time
import urllib.request

import pytest

from seg_platform_tests.conftest import free_port, running_server

QUERY = """{ workspaceOrError { __typename ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename
    ... on PythonError { message }
    ... on RepositoryLocation { repositories { name assetNodes { assetKey { path } groupName } } }
} } } } }"""


def graphql(port: int, query: str, **variables) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["data"]


@pytest.mark.e2e
def test_seg_platform_ui_loads_every_group_and_stops_on_sigterm_to_its_pid(tmp_path):
    """`seg-platform ui` becomes `dagster dev`: the code location loads with every asset
    group, and a SIGTERM to its PID stops every child, even when started the way a shell's
    `cmd &` starts it (SIGINT ignored, inherited across exec). (`dagster dev -w
    workspace.yaml` is what the browser test starts.)

    Its log has no warning at start-up, deprecations included (`PYTHONWARNINGS=default` shows
    what Python hides by default, as a developer's environment would)."""
    port = free_port()
    env = {**os.environ, "SEG_PLATFORM_HOME": str(tmp_path / "home"), "PYTHONWARNINGS": "default"}
    env.pop("DAGSTER_HOME", None)
    cmd = [sys.executable, "-m", "seg_platform.cli", "ui", "--port", str(port)]

    entries = []

    def up() -> bool:
        entries[:] = graphql(port, QUERY)["workspaceOrError"]["locationEntries"]
        return entries[0]["loadStatus"] == "LOADED"

    def like_a_background_job():
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    with running_server(cmd, env, up, preexec_fn=like_a_background_job) as server:
        assert (tmp_path / "home" / "dagster" / "dagster.yaml").exists()
        location = entries[0]["locationOrLoadError"]
        assert location["__typename"] == "RepositoryLocation", location
        groups = {
            "/".join(node["assetKey"]["path"]): node["groupName"]
            for repo in location["repositories"]
            for node in repo["assetNodes"]
        }
        # Keys are prefixed by their layer, as the UI's asset catalog shows them.
        assert groups["raw/orders"] == "raw"
        assert groups["predictions/customer_predictions"] == "predictions"
        assert groups["predictions/daily_customer_scores"] == "predictions"
        assert set(groups.values()) >= {
            "raw", "identity", "staging", "features", "segmentation", "segments", "predictions"
        }  # fmt: skip
        assert_cross_site_requests_refused(port)
        assert_no_warning_at_start_up(server.log_path)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                os.killpg(server.pid, 0)  # raises once no process of the group is left
            except ProcessLookupError:
                break
            time.sleep(0.5)
        else:
            pytest.fail("children of seg-platform ui outlived a SIGTERM to its PID")


def assert_no_warning_at_start_up(log_path) -> None:
    """Once the daemon has said which daemons it runs (the last start-up line), the log holds
    no WARNING line and no Python warning (`...Warning: ...`)."""
    deadline = time.monotonic() + 120
    while "Instance is configured with the following daemons" not in log_path.read_text():
        if time.monotonic() > deadline:
            pytest.fail("the daemon did not start within 120 s:\n" + log_path.read_text())
        time.sleep(0.25)
    time.sleep(3)  # the daemons' first iterations
    log = log_path.read_text()
    warnings = [
        line for line in log.splitlines()
        if "WARNING" in line or re.search(r"\w+Warning: ", line)
    ]  # fmt: skip
    assert not warnings, "\n".join(warnings)


MUTATIONS = [
    'mutation { terminateRun(runId: "x") { __typename } }',
    'mutation { deletePipelineRun(runId: "x") { __typename } }',
    "mutation { launchPipelineExecution(executionParams: {selector: {repositoryLocationName: "
    '"seg_platform", repositoryName: "__repository__", pipelineName: "full_pipeline"}}) '
    "{ __typename } }",
]


def request(port: int, method: str, path: str, headers=None, body=None) -> tuple[int, bytes]:
    """One request with exactly these headers (Host too, unlike urllib), and its answer."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        headers = {"Host": f"127.0.0.1:{port}", **(headers or {})}
        if body is not None:
            headers["Content-Length"] = str(len(body))
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def assert_cross_site_requests_refused(port: int) -> None:
    """What a web page of another site could make the browser send is refused; the UI's own
    requests work: DNS rebinding (a foreign Host), cross-origin POST and WebSocket, and
    mutations over GET (an <img> or a link sends those without an Origin)."""
    from urllib.parse import urlencode

    own = f"http://127.0.0.1:{port}"
    query = json.dumps({"query": "{ version }"}).encode()
    json_body = {"Content-Type": "application/json"}

    status, page = request(port, "GET", "/", {"Accept": "text/html"})
    assert status == 200 and b"<html" in page.lower()
    assert request(port, "GET", "/", {"Host": f"localhost:{port}"})[0] == 200
    status, body = request(port, "POST", "/graphql", {**json_body, "Origin": own}, query)
    assert status == 200 and json.loads(body)["data"]["version"]
    assert request(port, "GET", "/graphql?" + urlencode({"query": "{ version }"}))[0] == 200

    # A foreign Host (DNS rebinding: evil.example resolving to 127.0.0.1).
    assert request(port, "GET", "/", {"Host": "evil.example"})[0] == 400
    assert request(port, "POST", "/graphql", {**json_body, "Host": "evil.example"}, query)[0] == 400
    for mutation in MUTATIONS:
        body = json.dumps({"query": mutation}).encode()
        # Cross-origin POST (fetch or a form from another site).
        for origin in ("http://evil.example", "null", f"http://127.0.0.1:{port + 1}"):
            headers = {**json_body, "Origin": origin}
            assert request(port, "POST", "/graphql", headers, body)[0] == 403, (mutation, origin)
        # A mutation over GET, with or without an Origin.
        path = "/graphql?" + urlencode({"query": mutation})
        assert request(port, "GET", path)[0] == 405, mutation
    # A cross-origin WebSocket (GraphQL subscriptions) is refused at the handshake.
    handshake = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Origin": "http://evil.example",
    }
    assert request(port, "GET", "/graphql", handshake)[0] == 403
