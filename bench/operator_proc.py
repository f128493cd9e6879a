"""`lgcron run` as a separate process: start, wait for its metrics endpoint, read its RSS and metrics, stop."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from langgraph_cron.clients.devserver import free_port
from prometheus_client.parser import text_string_to_metric_families


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def stop_profile(spy: subprocess.Popen | None) -> None:
    if spy is not None:
        spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        await asyncio.to_thread(spy.wait)


class OperatorProcess:
    def __init__(self, *, kubeconfig: Path, namespace: str, server_url: str, resync: float, log_path: Path) -> None:
        self.metrics_port = free_port()
        self.log_path = log_path
        self.command = [sys.executable, "-m", "langgraph_cron.cli", "run", "--namespace", namespace]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("LGCRON_")}
        self.env.update(KUBECONFIG=str(kubeconfig), LGCRON_SERVER_URL=server_url, LGCRON_RESYNC_INTERVAL=str(resync),
                        LGCRON_METRICS_PORT=str(self.metrics_port), LGCRON_CLUSTER_ID="bench", PYTHONUNBUFFERED="1")
        self.proc: subprocess.Popen | None = None
        self.http = httpx.AsyncClient(timeout=10)

    def start(self) -> None:
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)

    async def wait_started(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the operator exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if (await self.http.get(f"http://127.0.0.1:{self.metrics_port}/metrics")).status_code == 200:
                    await asyncio.sleep(1.0)  # the metrics server starts in the startup handler; watches follow
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
        raise RuntimeError(f"the operator's metrics endpoint did not answer within {timeout}s; see {self.log_path}")

    def memory_mb(self, field: str = "VmRSS") -> float:
        """VmRSS (now) or VmHWM (peak since start) of the operator process, in MB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no {field} in /proc/{self.proc.pid}/status")

    async def counter(self, name: str, *labels: str) -> collections.Counter[tuple[str, ...]]:
        """An lgcron_*_total counter of the operator as {(label values, in the given order): count}."""
        # Only this metric's series, uncompressed: the bench polls this 4 times a second while it waits
        # for resync passes, and a full gzipped page (a series per cron) would cost the operator more
        # CPU than the passes it measures.
        response = await self.http.get(f"http://127.0.0.1:{self.metrics_port}/metrics",
                                       params={"name[]": name}, headers={"Accept-Encoding": "identity"})
        text = response.text
        found: collections.Counter[tuple[str, ...]] = collections.Counter()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name:
                    found[tuple(sample.labels[label] for label in labels)] += int(sample.value)
        return found

    async def server_requests(self) -> collections.Counter[tuple[str, ...]]:
        """Agent Server requests as {(method, endpoint, code): count}."""
        return await self.counter("lgcron_agent_server_requests_total", "method", "endpoint", "code")

    def profile(self, out: Path) -> subprocess.Popen:
        """Sample the operator with py-spy (collapsed stacks, for flamegraph.pl/speedscope) until SIGINT."""
        spy = Path(sys.executable).with_name("py-spy")
        return subprocess.Popen([str(spy), "record", "--pid", str(self.proc.pid), "--format", "raw", "--rate", "100",
                                 "--nonblocking", "--output", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

    async def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (kopf shuts down gracefully, still talking to the emulator on our loop), then SIGKILL."""
        await self.http.aclose()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                await asyncio.to_thread(self.proc.wait, timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                await asyncio.to_thread(self.proc.wait)
