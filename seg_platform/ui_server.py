"""`seg-platform ui`: the Dagster webserver and daemon on 127.0.0.1, refusing cross-site requests.

Binding to loopback does not stop a web page the user visits from sending requests to the UI:
Dagster's webserver accepts any Host header (DNS rebinding) and runs GraphQL mutations sent
from any origin, even over a plain GET. The webserver's own ASGI app is therefore served behind
Starlette's TrustedHostMiddleware (loopback names only) and `SameOriginMiddleware` below
(a foreign Origin, or a mutation over GET, is refused), with the daemon (schedules, sensors, run
queue, run monitoring) beside it as `dagster dev` would start it.
"""

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocketClose

from seg_platform.core import settings

HOST = "127.0.0.1"
LOCAL_HOSTS = ["127.0.0.1", "localhost"]
LOCATION_NAME = settings.CODE_LOCATION
DAEMON_STOP_TIMEOUT_S = 30
# How often the UI looks at the data span file: the partitions follow the data.
DATA_SPAN_POLL_S = 5.0


class SameOriginMiddleware:
    """Refuse what a page of another site can make the browser send.

    - any request or WebSocket handshake whose Origin is not one of `allowed_origins`
      (browsers send Origin with every cross-origin POST, fetch and WebSocket);
    - a GraphQL mutation or subscription sent with GET to `graphql_path`: a link or an image
      of another page sends a GET without an Origin.

    Requests without an Origin (curl, scripts, the GraphQL client) pass: they do not come
    from a web page.
    """

    def __init__(
        self, app: ASGIApp, allowed_origins: Sequence[str], graphql_path: str = "/graphql"
    ) -> None:
        self.app = app
        self.allowed_origins = set(allowed_origins)
        self.graphql_path = graphql_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        origin = connection.headers.get("origin")
        if origin is not None and origin not in self.allowed_origins:
            await self._refuse(scope, receive, send, 403, "Cross-origin request refused")
        elif (
            scope["type"] == "http"
            and scope["method"] in ("GET", "HEAD")
            and connection.url.path == self.graphql_path
            and _changes_state(connection.query_params.get("query"))
        ):
            await self._refuse(scope, receive, send, 405, "GraphQL mutations need POST")
        else:
            await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, text: str):
        if scope["type"] == "websocket":
            # Closing before the handshake is accepted answers it with HTTP 403.
            await WebSocketClose(code=1008, reason=text)(scope, receive, send)
        else:
            await PlainTextResponse(text, status_code=status)(scope, receive, send)


def _changes_state(query: str | None) -> bool:
    """Whether a GraphQL document holds an operation other than a query."""
    if not query:
        return False
    from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse

    try:
        document = parse(query)
    except GraphQLError:
        return False  # not executable either: the server answers with the syntax error
    return any(
        isinstance(node, OperationDefinitionNode) and node.operation != OperationType.QUERY
        for node in document.definitions
    )


def guarded(app, port: int):
    """`app` (a Starlette app) behind the loopback Host check and the same-origin check."""
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    origins = [f"http://{host}:{port}" for host in LOCAL_HOSTS]
    # The last added is the outermost: the Host check runs first.
    app.add_middleware(SameOriginMiddleware, allowed_origins=origins)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=LOCAL_HOSTS, www_redirect=False)
    return app


def serve(port: int) -> int:
    """Serve the UI on 127.0.0.1:`port` with the daemon until SIGINT or SIGTERM."""
    import dagster as dg
    import uvicorn
    import yaml
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget
    from dagster_webserver.app import create_app_from_workspace_process_context
    from dagster_webserver.version import __version__

    home = settings.platform_home().ensure()
    os.environ["DAGSTER_HOME"] = str(home.dagster_home)
    os.environ[settings.HOME_ENV] = str(home.root)
    # Started as a shell's background job, SIGINT is ignored and would stay ignored in the
    # daemon. A SIGTERM becomes KeyboardInterrupt so the daemon and code servers are stopped.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="seg-platform-ui-")))
        workspace = folder / "workspace.yaml"
        target = {"module_name": "seg_platform.definitions", "location_name": LOCATION_NAME}
        workspace.write_text(yaml.safe_dump({"load_from": [{"python_module": target}]}))
        try:
            # The instance (and so its SQLite storage) first, in this process alone: the daemon
            # and the code server creating a fresh home's storage at the same moment stamp its
            # schema twice, and the code location then fails to load ("alembic_version has more
            # than one head present").
            instance = stack.enter_context(dg.DagsterInstance.get())
            daemon = subprocess.Popen(
                [_bin("dagster-daemon"), "run", "-w", str(workspace)], stdin=subprocess.DEVNULL
            )
            stack.callback(_stop, daemon)
            context = stack.enter_context(
                WorkspaceProcessContext(
                    instance,
                    version=__version__,
                    read_only=False,
                    workspace_load_target=WorkspaceFileTarget(paths=[str(workspace)]),
                )
            )
            stop = threading.Event()
            stack.callback(stop.set)
            threading.Thread(
                target=reload_when_data_span_changes,
                args=(home.data_span_file, lambda: context.reload_code_location(LOCATION_NAME)),
                kwargs={"stop": stop},
                daemon=True,
                name="data-span-watch",
            ).start()
            app = guarded(create_app_from_workspace_process_context(context), port)
            uvicorn.run(app, host=HOST, port=port, log_level="warning")
        except KeyboardInterrupt:
            pass
    return 0


def reload_when_data_span_changes(
    span_file: Path,
    reload: Callable[[], None],
    stop: threading.Event,
    interval: float = DATA_SPAN_POLL_S,
) -> None:
    """Call `reload` (the code location's) each time the data span file changes, until `stop`.

    The partitions are bounded by the data (core/partitions.py): a raw load that moves the span
    offers other months only once Dagster loads the code again. The daemon refreshes its own
    workspace every 60 s (RELOAD_WORKSPACE_INTERVAL in dagster._daemon.controller).
    """

    def read() -> str | None:
        try:
            return span_file.read_text()
        except OSError:
            return None

    seen = read()
    while not stop.wait(interval):
        current = read()
        if current != seen:
            seen = current
            try:
                reload()
            except Exception as exc:  # the UI shows the location's load error itself
                sys.stderr.write(f"seg-platform ui: reloading the code location failed: {exc}\n")


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _stop(process: subprocess.Popen) -> None:
    """Interrupt the daemon (it then stops its code server); kill it if it does not stop."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=DAEMON_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _bin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name
