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
"""

from __future__ import annotations

import json
from pathlib import Path

from langgraph_cron.clients.devserver import AgentServerProcess as _AgentServerProcess
from langgraph_cron.clients.devserver import free_port  # noqa: F401  (re-exported for tests)

GRAPHS_DIR = Path(__file__).resolve().parent / "graphs"
DEFAULT_GRAPHS = {
    "agent": f"{GRAPHS_DIR / 'echo.py'}:graph",
    "failing": f"{GRAPHS_DIR / 'failing.py'}:graph",
}


class AgentServerProcess(_AgentServerProcess):
    """The dev server with the test graphs (`agent`, `failing`) unless others are given."""

    def __init__(self, graphs: dict[str, str] | None = None, **kwargs) -> None:
        super().__init__(graphs or DEFAULT_GRAPHS, **kwargs)


# ---------------------------------------------------------------- pytest fixtures
try:
    import pytest
except ImportError:  # used outside pytest (e.g. a demo command): only the class above is needed
    pytest = None

_session_server: AgentServerProcess | None = None

if pytest is not None:

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
