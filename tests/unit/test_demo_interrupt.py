"""`lgcron demo` stopped at any moment (Ctrl-C, SIGTERM, Ctrl-C twice) leaves no process and no temp
dir behind; and it runs from any directory, on the examples packaged with lgcron.

Each case runs the real command as a subprocess with TMPDIR in a directory of the test's own, so its
temp dir can be found, and a marker in its environment, which the Agent Server (uvicorn) inherits:
after the demo has exited, no process on the machine may carry the marker, and the temp dir must be
empty. To interrupt *during* the Agent Server's start-up deterministically, a sitecustomize on the
subprocess's PYTHONPATH holds uvicorn for a few seconds before it starts (only uvicorn: the demo
itself runs unchanged), and the test signals once that uvicorn process exists.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.agent_server, pytest.mark.timeout(180)]
pytest.importorskip("langgraph_api", reason="the demo needs the `server` extra (the in-memory Agent Server)")

MARKER = "LGCRON_DEMO_TEST_MARKER"
STARTING = "starting the in-memory Agent Server"
READY = re.compile(r"Agent Server ready at (http://127\.0\.0\.1:(\d+))")
WAITING = "waiting up to"
SLOW_UVICORN = textwrap.dedent("""\
    import sys, time
    if "uvicorn" in sys.orig_argv:  # the Agent Server of `lgcron demo`, not the demo itself
        time.sleep(float(__import__("os").environ.get("LGCRON_DEMO_TEST_UVICORN_DELAY", "0")))
""")


def marked_processes(token: str) -> list[int]:
    """PIDs of live processes whose environment carries this test's marker (any parent, any group)."""
    needle = f"{MARKER}={token}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                state = next((line for line in (entry / "status").read_text().splitlines() if line.startswith("State:")), "")
                if "zombie" not in state:
                    found.append(int(entry.name))
    return found


def children(pid: int) -> list[str]:
    """Command lines of the direct children of `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError):
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
    return found


class Demo:
    """`lgcron demo` as a subprocess, its output read line by line as it comes."""

    def __init__(self, tmp_path: Path, *args: str, uvicorn_delay: float = 0, cwd: Path | None = None) -> None:
        self.token = uuid.uuid4().hex
        self.tmpdir = tmp_path / "tmpdir"
        self.tmpdir.mkdir(parents=True)
        site = tmp_path / "site"
        site.mkdir()
        (site / "sitecustomize.py").write_text(SLOW_UVICORN)
        env = {k: v for k, v in os.environ.items() if not k.startswith("LGCRON_")}
        env.update({MARKER: self.token, "TMPDIR": str(self.tmpdir),
                    "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
                    "LGCRON_DEMO_TEST_UVICORN_DELAY": str(uvicorn_delay)})
        self.lines: list[str] = []
        self._new_line = threading.Condition()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "langgraph_cron.cli", "demo", *args], cwd=cwd or tmp_path, env=env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            # As from a terminal: a shell that runs pytest in the background may have SIGINT ignored, and
            # an ignored signal stays ignored across exec. (Only a signal call between fork and exec.)
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # noqa: PLW1509
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self._new_line:
                self.lines.append(line.rstrip("\n"))
                self._new_line.notify_all()
        with self._new_line:
            self._new_line.notify_all()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        with self._new_line:
            while True:
                if found := next((line for line in self.lines if text in line), None):
                    return found
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"no line {text!r} from the demo (exit {self.proc.poll()}):\n{self.output}")
                self._new_line.wait(0.1)

    def wait_for_uvicorn(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any("uvicorn" in cmd for cmd in children(self.proc.pid)):
            assert time.monotonic() < deadline and self.proc.poll() is None, f"no uvicorn child:\n{self.output}"
            time.sleep(0.02)

    def finish(self, timeout: float = 60) -> int:
        return self.proc.wait(timeout)

    def port(self) -> int | None:
        match = next((m for line in self.lines if (m := READY.search(line))), None)
        return int(match.group(2)) if match else None

    def assert_nothing_left(self) -> None:
        """No process with the marker, nothing listening on the server's port, an empty TMPDIR."""
        deadline = time.monotonic() + 5  # a killed process may take a moment to be reaped by init
        while (left := marked_processes(self.token)) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in left:  # ours (they carry this test's marker): do not leave them to the machine
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        assert not left, f"processes of the demo survived it: {[Path(f'/proc/{p}/cmdline') for p in left]}\n{self.output}"
        if (port := self.port()) is not None:
            with socket.socket() as probe:
                assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still listening"
        assert list(self.tmpdir.iterdir()) == [], f"temp files left behind: {list(self.tmpdir.rglob('*'))}"


@pytest.fixture
def demo(tmp_path):
    started: list[Demo] = []

    def run(*args: str, **kwargs) -> Demo:
        started.append(Demo(tmp_path / str(len(started)), *args, **kwargs))
        return started[-1]

    yield run
    for one in started:  # a failed test must not leave its demo (or its server) running
        if one.proc.poll() is None:
            one.proc.kill()
        one.proc.wait()
        for pid in marked_processes(one.token):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_ctrl_c_while_the_agent_server_starts_leaves_nothing(demo):
    run = demo("--wait", "0", uvicorn_delay=5)
    run.wait_for_line(STARTING)
    run.wait_for_uvicorn()  # started, not answering yet (held 5 s): the moment of the reported leak
    run.proc.send_signal(signal.SIGINT)
    code = run.finish()
    assert not READY.search(run.output), "the signal came after start-up: this case tests nothing"
    run.assert_nothing_left()
    assert code == 130, run.output
    assert "SIGINT: stopping" in run.output and "stopped the Agent Server" in run.output
    assert "Traceback" not in run.output


def test_ctrl_c_right_after_the_start_line_leaves_nothing(demo):
    """Before uvicorn exists, or just as it is spawned: whichever the race gives."""
    run = demo("--wait", "0", uvicorn_delay=5)
    run.wait_for_line(STARTING)
    run.proc.send_signal(signal.SIGINT)
    assert run.finish() == 130, run.output
    run.assert_nothing_left()


def test_sigterm_while_the_agent_server_starts_leaves_nothing(demo):
    run = demo("--wait", "0", uvicorn_delay=5)
    run.wait_for_line(STARTING)
    run.wait_for_uvicorn()
    run.proc.send_signal(signal.SIGTERM)
    assert run.finish() == 143, run.output
    assert "SIGTERM: stopping" in run.output
    run.assert_nothing_left()


def test_ctrl_c_twice_does_not_cut_the_cleanup_short(demo):
    run = demo("--wait", "0", uvicorn_delay=5)
    run.wait_for_line(STARTING)
    run.wait_for_uvicorn()
    run.proc.send_signal(signal.SIGINT)
    run.wait_for_line("SIGINT: stopping")
    run.proc.send_signal(signal.SIGINT)
    assert run.finish() == 130, run.output
    run.assert_nothing_left()


def test_ctrl_c_while_waiting_for_the_first_run_deletes_the_crons_and_leaves_nothing(demo):
    run = demo("--wait", "120")
    run.wait_for_line(WAITING)
    assert run.port() is not None
    run.proc.send_signal(signal.SIGINT)
    assert run.finish() == 130, run.output
    assert "deleted the demo crons" in run.output and "stopped the Agent Server" in run.output
    run.assert_nothing_left()


def test_ctrl_c_as_soon_as_the_server_is_ready_leaves_nothing(demo):
    run = demo("--wait", "120")
    run.wait_for_line("Agent Server ready at")
    run.proc.send_signal(signal.SIGINT)
    assert run.finish() == 130, run.output
    run.assert_nothing_left()


def test_demo_runs_from_any_directory_on_the_packaged_examples(demo, tmp_path):
    elsewhere = tmp_path / "elsewhere"  # no examples/ here: the packaged ones are used
    elsewhere.mkdir()
    run = demo("--wait", "0", cwd=elsewhere)
    assert run.finish(timeout=120) == 0, run.output
    for name in ("hello-every-minute", "nightly-digest", "morning-briefing", "inbox-triage-thread"):
        assert re.search(rf"^default\s+{name}\s.*True \(Scheduled\)$", run.output, re.MULTILINE), (name, run.output)
    assert "deleted the demo crons" in run.output and "stopped the Agent Server" in run.output
    run.assert_nothing_left()
