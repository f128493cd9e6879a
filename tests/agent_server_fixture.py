"""The real in-memory LangGraph Agent Server as a subprocess, for tests (and later `lgcron demo`).

`AgentServerProcess` is a plain class (context manager) with no pytest dependency; the pytest
fixtures at the bottom are defined only when pytest is importable.

Pytest usage:
  * `agent_server` (session scope) yields a running `AgentServerProcess`; use `.url`.
  * A test may call `agent_server.stop()` / `.start()` to simulate an outage; after every test the
    autouse guard `_agent_server_restarted` starts it again if it was left stopped. A restart keeps
    the port. State: `stop()` (graceful) + `start()` keeps all crons, threads and runs (the server
    saves them in its workdir on shutdown); `stop(kill=True)` loses what changed since the last
    graceful stop; `start(fresh=True)` starts empty.

Which server: the `langgraph-api` installed with this interpreter (the `server` extra's pins) unless
`LGCRON_TEST_AGENT_SERVER_PYTHON` names another interpreter, e.g. a venv of an older release that
`scripts/agent-servers` builds. `server_release()` says which release that is (pytest's header shows
it). A test of what an older release lacks is marked `@pytest.mark.server_has("get_cron")` (a name in
langgraph_cron.clients.agent_server_versions.FEATURES, which says since when) and skips on a
release without it, saying which release lacks what.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from langgraph_cron.clients.agent_server_versions import FEATURES, ServerFeatures
from langgraph_cron.clients.devserver import AgentServerProcess as _AgentServerProcess
from langgraph_cron.clients.devserver import free_port  # noqa: F401  (re-exported for tests)

GRAPHS_DIR = Path(__file__).resolve().parent / "graphs"
DEFAULT_GRAPHS = {
    "agent": f"{GRAPHS_DIR / 'echo.py'}:graph",
    "failing": f"{GRAPHS_DIR / 'failing.py'}:graph",
}


SERVER_PYTHON_ENV = "LGCRON_TEST_AGENT_SERVER_PYTHON"


def server_python() -> str:
    """The interpreter that runs the test servers."""
    return os.environ.get(SERVER_PYTHON_ENV) or sys.executable


@functools.cache
def server_release() -> str | None:
    """The `langgraph-api` release installed with `server_python()` (None: not installed)."""
    python = server_python()
    if python == sys.executable:
        try:
            return version("langgraph-api")
        except PackageNotFoundError:
            return None
    done = subprocess.run(
        [python, "-c", "from importlib.metadata import version; print(version('langgraph-api'))"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    return (done.stdout.strip() or None) if done.returncode == 0 else None


class AgentServerProcess(_AgentServerProcess):
    """The dev server with the test graphs (`agent`, `failing`) unless others are given, run by
    `server_python()` unless another interpreter is given."""

    def __init__(self, graphs: dict[str, str] | None = None, **kwargs) -> None:
        kwargs.setdefault("python", server_python())
        super().__init__(graphs or DEFAULT_GRAPHS, **kwargs)


# ---------------------------------------------------------------- pytest fixtures
try:
    import pytest
except ImportError:  # used outside pytest (e.g. a demo command): only the class above is needed
    pytest = None

_session_server: AgentServerProcess | None = None

if pytest is not None:

    def pytest_configure(config):
        config.addinivalue_line(
            "markers",
            "server_has(feature): needs a feature of agent_server_versions.FEATURES; skipped, saying so, "
            "on a langgraph-api release without it (LGCRON_TEST_AGENT_SERVER_PYTHON)",
        )

    def pytest_report_header(config):
        where = os.environ.get(SERVER_PYTHON_ENV)
        return [f"agent server: langgraph-api {server_release() or 'not installed'}"
                + (f" ({SERVER_PYTHON_ENV}={where})" if where else " (this interpreter's)")]

    def pytest_runtest_setup(item):
        release = server_release()
        for mark in item.iter_markers("server_has"):
            for name in mark.args:
                feature = FEATURES[name]  # a KeyError here is a typo in the test's marker
                if not ServerFeatures.of(release).has(name):
                    pytest.skip(f"langgraph-api {release} has no {feature.what} (it came in {feature.since})")

    @pytest.fixture(scope="session")
    def agent_server():
        global _session_server
        server = AgentServerProcess()
        try:
            server.start()
        except BaseException:
            server.close()
            raise
        _session_server = server
        try:
            yield server
        finally:
            _session_server = None
            server.close()

    @pytest.fixture(autouse=True)
    def _agent_server_restarted():
        """Restart the session server after any test that left it stopped (outage tests)."""
        yield
        if _session_server is not None and not _session_server.is_running:
            _session_server.start()

    @pytest.fixture(scope="session")
    def auth_server():
        """A second server with custom auth (tests/graphs/auth.py) that enforces `x-api-key`."""
        env = {"LANGGRAPH_AUTH": json.dumps({"path": f"{GRAPHS_DIR / 'auth.py'}:auth"})}
        with AgentServerProcess(extra_env=env) as server:
            yield server
