"""The real in-memory LangGraph Agent Server (`langgraph-api` + `langgraph-runtime-inmem`) as a
subprocess on a loopback port: used by `lgcron demo` and by the test suite's fixtures.

`langgraph dev` is not used: it silently changes port when one is busy and reaches for the
internet. Needs the `server` extra (`pip install 'langgraph-cron-operator[server]'`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StartAborted(RuntimeError):
    """`AgentServerProcess.start()` gave up because `stop()` was called meanwhile."""


class AgentServerProcess:
    """One `uvicorn langgraph_api.server:app` subprocess on a fixed loopback port."""

    def __init__(
        self,
        graphs: dict[str, str],
        *,
        port: int | None = None,
        workdir: str | os.PathLike | None = None,
        startup_timeout: float = 60.0,
        extra_env: dict[str, str] | None = None,
        python: str | os.PathLike | None = None,
    ) -> None:
        self.graphs = dict(graphs)
        # The interpreter that runs the server: this one by default; another venv's to run another
        # release of langgraph-api (the tests' LGCRON_TEST_AGENT_SERVER_PYTHON, scripts/agent-servers).
        self.python = str(python or sys.executable)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._own_workdir = workdir is None
        # The server writes .langgraph_api/ into its cwd: keep that out of the repo.
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="lg-agent-server-"))
        self.log_path = self.workdir / "agent_server.log"
        self.startup_timeout = startup_timeout
        self.extra_env = dict(extra_env or {})
        self._proc: subprocess.Popen | None = None
        # start() may run in a worker thread (`lgcron demo`) while stop() comes from another: the lock
        # orders them, and each stop() bumps the generation, so a start() in progress sees it and gives up.
        self._lock = threading.Lock()
        self._generation = 0

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("LANGSMITH_API_KEY", "LANGCHAIN_API_KEY")}
        env.update(
            LANGGRAPH_RUNTIME_EDITION="inmem",
            DATABASE_URI=":memory:",
            REDIS_URI="fake",
            MIGRATIONS_PATH="__inmem",
            LANGSERVE_GRAPHS=json.dumps(self.graphs),
            LANGSMITH_LANGGRAPH_API_VARIANT="local_dev",
            LANGGRAPH_DISABLE_FILE_PERSISTENCE="true",
            N_JOBS_PER_WORKER="2",
            CRON_SCHEDULER_SLEEP_TIME="1",
            LANGSMITH_TRACING="false",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    @property
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, *, fresh: bool = False) -> AgentServerProcess:
        """Start (or restart) on the same port and block until `GET /ok` answers.

        The "in-memory" server reloads what a graceful stop saved in the workdir; `fresh=True`
        deletes that first, so the server comes back with no crons, threads or runs.

        A `stop()` from another thread while this waits stops the process it started and makes this
        raise `StartAborted` within about a second. (A stop() that comes before start() has begun
        stops nothing: whoever calls both from different threads waits for start() to end, then stops.)
        """
        with self._lock:
            if self.is_running:
                return self
            if fresh:
                shutil.rmtree(self.workdir / ".langgraph_api", ignore_errors=True)
            generation = self._generation
            with open(self.log_path, "ab") as log:
                log.write(f"\n===== start {time.strftime('%H:%M:%S')} port {self.port} =====\n".encode())
                log.flush()
                proc = self._proc = subprocess.Popen(
                    [self.python, "-m", "uvicorn", "langgraph_api.server:app",
                     "--host", "127.0.0.1", "--port", str(self.port)],
                    cwd=self.workdir, env=self._env(), stdout=log, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, start_new_session=True,  # own group: stop() reaches any children
                )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._generation != generation or proc.poll() is not None:
                if self._generation != generation:  # stopped by stop(), maybe already dead of its signal
                    raise StartAborted("the Agent Server was stopped while it was starting")
                raise RuntimeError(f"Agent Server exited with {proc.returncode} during startup:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/ok", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"Agent Server not ready after {self.startup_timeout}s:\n{self.log_tail()}")

    def stop(self, *, kill: bool = False, timeout: float = 10.0) -> None:
        """Stop the server; afterwards its port refuses connections.

        Graceful (SIGTERM) by default: the server then writes its whole store (crons, threads,
        runs) to `.langgraph_api/` in the workdir and the next `start()` restores it. `kill=True`
        (SIGKILL) simulates a crash: with periodic persistence disabled nothing is saved, so the
        next start restores the last graceful save (or nothing), losing everything since.
        """
        with self._lock:
            self._generation += 1  # a start() in progress gives up
            proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        steps = ((signal.SIGKILL, 5.0),) if kill else ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0))
        for sig, wait in steps:
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def close(self) -> None:
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "<no log>"

    def __enter__(self) -> AgentServerProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AgentServerProcess(url={self.url!r}, running={self.is_running})"
