"""`python -m bench --restart | --failover | --cold-start`: what a start of the operator costs.

* --restart: N resources Ready, the operator killed with SIGKILL, a new one started. Counted until the
  new one's first pass is done (its log says "first pass after start-up"): its Agent Server requests,
  object writes (resourceVersions), the time, its peak RSS, and whether every resource stayed Ready.
* --failover: two replicas under kopf peering; the active one is killed; the same figures for the
  standby, plus the takeover time (kill to the end of its first pass).
* --cold-start: N resources created first (a first install, or an operator down during a sync), then
  the operator started: time to all Ready and peak RSS.

Targets (README "Benchmark"): restart and failover, <= ceil(N/1000)+1 Agent Server requests and 0 object
writes before the first pass is done, every resource Ready throughout; failover, the first pass done
within 30 s of the kill at N=1,000; cold start, peak RSS <= 150 MB at 1,000 and <= 100 MB + 30 KB * N.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import secrets
import signal
import tempfile
import time
from pathlib import Path

from langgraph_cron.clients.devserver import AgentServerProcess

from bench.cluster import Kube, Observer, apply_crd, is_ready, start_control_plane
from bench.common import GRAPHS, SPEC, bounded, say
from bench.operator_proc import OperatorProcess

FIRST_PASS_LINE = b"first pass after start-up"
PEERING_CRDS = Path(__file__).resolve().parents[1] / "charts" / "langgraph-cron-operator" / "crds" / "kopf-peering.yaml"


class Lifecycle:
    def __init__(self, args: argparse.Namespace, server: AgentServerProcess, kube: Kube, kubeconfig: Path,
                 workdir: Path) -> None:
        self.args, self.server, self.kube, self.kubeconfig, self.workdir = args, server, kube, kubeconfig, workdir
        self.n = args.resources
        self.names = [f"bench-{i:05d}" for i in range(self.n)]
        self.observer = Observer(kube)
        self.not_ready_seen: set[str] = set()
        self.operators: list[OperatorProcess] = []

    def operator(self, name: str, *extra: str) -> OperatorProcess:
        op = OperatorProcess(kubeconfig=self.kubeconfig, namespace=self.kube.namespace, server_url=self.server.url,
                             resync=self.args.resync_interval, log_path=self.workdir / f"{name}.log")
        op.command += list(extra)
        self.operators.append(op)
        return op

    async def create_all(self) -> float:
        started = time.monotonic()
        await bounded(self.args.concurrency, self.names,
                       lambda name: self.kube.create(name, {**SPEC, "input": {"text": name}}))
        return time.monotonic() - started

    async def all_ready(self, timeout: float) -> bool:
        return await self.observer.until(lambda: len(self.observer.ready_at) >= self.n, timeout)

    async def versions(self) -> dict[str, str]:
        return {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in await self.kube.list()}

    async def still_ready(self) -> int:
        return sum(1 for o in await self.kube.list() if is_ready(o))

    async def first_pass_done(self, op: OperatorProcess, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if FIRST_PASS_LINE in op.log_path.read_bytes():
                return time.monotonic()
            await asyncio.sleep(0.1)
        return None

    def report_start(self, what: str, op: OperatorProcess, started: float, done: float | None, requests,
                     writes: int, ready_after: int) -> None:
        target = math.ceil(self.n / 1000) + 1
        total = sum(requests.values())
        line = next((raw.decode() for raw in op.log_path.read_bytes().splitlines() if FIRST_PASS_LINE in raw), "")
        say(f"\n{what}: N={self.n}")
        say(f"  first pass done {done - started:.2f} s after the {'kill' if what == 'failover' else 'start'}"
            if done else "  first pass NOT done within the timeout")
        say(f"  its log: {line.split('] ', 1)[-1] if line else '-'}")
        say(f"  Agent Server requests until then: {total} (target <= ceil(N/1000)+1 = {target}): "
            + ", ".join(f"{m} {e} {c}: {v}" for (m, e, c), v in sorted(requests.items())))
        say(f"  object writes until then: {writes} (target 0); Ready afterwards: {ready_after}/{self.n}; "
            f"seen not Ready in between: {len(self.not_ready_seen)}")
        say(f"  peak RSS of the new operator (VmHWM): {op.memory_mb('VmHWM'):.1f} MB")
        verdicts = [("requests", total <= target), ("writes", writes == 0), ("stayed Ready", not self.not_ready_seen)]
        if what == "failover" and done:
            verdicts.append(("takeover <= 30 s", done - started <= 30))
        say("TARGETS: " + ", ".join(f"{name} {'met' if ok else 'MISSED'}" for name, ok in verdicts))

    def watch_readiness(self) -> None:
        original = self.observer._see

        def see(kind: str, obj: dict) -> None:
            if kind != "DELETED" and obj["metadata"]["name"] in self.observer.ready_at and not is_ready(obj):
                self.not_ready_seen.add(obj["metadata"]["name"])
            original(kind, obj)

        self.observer._see = see  # type: ignore[method-assign]

    # ------------------------------------------------------------ scenarios

    async def restart(self) -> None:
        first = self.operator("operator-1")
        first.start()
        await first.wait_started()
        await self.create_all()
        if not await self.all_ready(self.args.timeout):
            raise RuntimeError(f"not all Ready: {len(self.observer.ready_at)}/{self.n}")
        await asyncio.sleep(2)
        versions = await self.versions()
        self.watch_readiness()
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait()
        second = self.operator("operator-2")
        started = time.monotonic()
        second.start()
        await second.wait_started()
        done = await self.first_pass_done(second, self.args.timeout)
        requests = await second.server_requests()
        writes = sum(v != versions.get(k) for k, v in (await self.versions()).items())
        self.report_start("restart", second, started, done, requests, writes, await self.still_ready())

    async def failover(self) -> None:
        from kube_test_api import KubeTestApi, ensure_crds

        api = KubeTestApi(self.kubeconfig, self.kube.namespace)
        try:
            ensure_crds(api, PEERING_CRDS)
            api.call_blocking("POST", f"/apis/kopf.dev/v1/namespaces/{self.kube.namespace}/kopfpeerings",
                              {"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": "bench"}})
        finally:
            api.close()
        active = self.operator("active", "--peering", "bench")
        active.start()
        await active.wait_started()
        await self.create_all()
        if not await self.all_ready(self.args.timeout):
            raise RuntimeError(f"not all Ready: {len(self.observer.ready_at)}/{self.n}")
        # lgcron run gives each replica a random priority: a newcomer that outranks the active replica takes
        # over at once (the old one pauses). Start newcomers until one pauses: a standby that never handled
        # the resources, as after a rollout, is the case measured.
        for attempt in range(10):
            standby = self.operator(f"standby-{attempt}", "--peering", "bench")
            standby.start()
            await standby.wait_started()
            if await self._newcomer_waits(active, standby):
                break
            await active.stop()  # the newcomer took over: it is the active replica now
            active = standby
        else:
            raise RuntimeError("no newcomer paused in 10 attempts")
        await asyncio.sleep(2)
        versions = await self.versions()
        before = await standby.server_requests()
        self.watch_readiness()
        killed = time.monotonic()
        active.proc.send_signal(signal.SIGKILL)
        active.proc.wait()
        done = await self.first_pass_done(standby, self.args.timeout)
        requests = await standby.server_requests() - before
        writes = sum(v != versions.get(k) for k, v in (await self.versions()).items() if k in versions)
        self.report_start("failover", standby, killed, done, requests, writes, await self.still_ready())

    @staticmethod
    async def _newcomer_waits(active: OperatorProcess, newcomer: OperatorProcess) -> bool:
        """Whether the newcomer stays paused (kopf starts a peer paused and logs only when it resumes), or took
        over (it resumes, and the active one logs that it pauses in its favour)."""
        for _ in range(50):
            if (b"Resuming operations" in newcomer.log_path.read_bytes()
                    or b"Pausing operations in favour of" in active.log_path.read_bytes()):
                return False
            await asyncio.sleep(0.1)
        return True

    async def cold_start(self) -> None:
        created_in = await self.create_all()
        say(f"\ncold start: {self.n} LangGraphCrons created in {created_in:.2f} s before the operator starts")
        op = self.operator("operator")
        started = time.monotonic()
        op.start()
        await op.wait_started()
        ready = await self.all_ready(self.args.timeout)
        wall = time.monotonic() - started
        peak = op.memory_mb("VmHWM")
        budget = 150.0 if self.n <= 1000 else 100.0 + 0.03 * self.n
        say(f"  all Ready {wall:.2f} s after the start" if ready else
            f"  NOT all Ready: {len(self.observer.ready_at)}/{self.n} after {self.args.timeout:g} s")
        requests = await op.server_requests()
        say(f"  Agent Server requests: {sum(requests.values())}; peak RSS (VmHWM) {peak:.1f} MB (budget {budget:.0f} MB); "
            f"RSS now {op.memory_mb():.1f} MB")
        say(f"TARGETS: peak RSS {'met' if peak <= budget else 'MISSED'}")


async def run_lifecycle(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="lgcron-bench-"))
    async with contextlib.AsyncExitStack() as stack:
        (workdir / "server").mkdir()
        server = AgentServerProcess(GRAPHS, workdir=workdir / "server")
        stack.callback(server.stop)
        await asyncio.to_thread(server.start)
        if args.kube == "kubeconfig":
            kubeconfig = Path(os.environ["KUBECONFIG"]).expanduser()
        else:
            control_plane = start_control_plane(os.environ["KUBEBUILDER_ASSETS"])
            stack.callback(control_plane.stop)
            kubeconfig = control_plane.kubeconfig
        await asyncio.to_thread(apply_crd, kubeconfig)
        kube = Kube(kubeconfig, f"lgcron-bench-{secrets.token_hex(3)}", args.concurrency)
        stack.push_async_callback(kube.aclose)
        await kube.create_namespace()
        stack.push_async_callback(kube.delete_namespace)
        lifecycle = Lifecycle(args, server, kube, kubeconfig, workdir)
        lifecycle.observer.start()
        stack.push_async_callback(lifecycle.observer.stop)

        async def stop_operators() -> None:
            for op in lifecycle.operators:
                await op.stop()

        stack.push_async_callback(stop_operators)
        say(f"== lgcron bench --{args.lifecycle}: N={args.resources}, {os.cpu_count()} cores, logs in {workdir}")
        await {"restart": lifecycle.restart, "failover": lifecycle.failover, "cold-start": lifecycle.cold_start}[
            args.lifecycle]()
    say(f"done (logs kept in {workdir})")
