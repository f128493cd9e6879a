"""python -m bench [--resources N] [--kube emulator|control-plane|kubeconfig] ...: see bench/__init__.py."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import math
import os
import secrets
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
import uvloop
from langgraph_cron.clients.devserver import AgentServerProcess
from langgraph_cron.core.plan import desired_cron
from langgraph_cron.core.spec import Identity, parse_spec

from bench.cluster import (
    ApiserverMetrics,
    Kube,
    Observer,
    apply_crd,
    emulator,
    start_control_plane,
)
from bench.common import GRAPHS, SPEC, bounded, pct, say
from bench.operator_proc import OperatorProcess, cpu_seconds, stop_profile


def table(counts: Counter, *, min_count: int = 0) -> str:
    shown = [(k, c) for k, c in counts.most_common() if c >= min_count]
    rest = sum(counts.values()) - sum(c for _, c in shown)
    return "\n".join(f"      {key:<40} {count:>7}" for key, count in [*shown, *([("(others)", rest)] if rest else [])])


def by_endpoint(requests: Counter) -> str:
    """Agent Server requests {(method, endpoint, code): n} summed by method + endpoint."""
    summed = Counter()
    for (method, endpoint, _), count in requests.items():
        summed[f"{method} {endpoint}"] += count
    errors = sum(c for (_, _, code), c in requests.items() if not code.startswith("2"))
    return table(summed) + f"\n      {'(of which non-2xx)':<40} {errors:>7}"


class Bench:
    def __init__(self, args: argparse.Namespace, server: AgentServerProcess, kube: Kube, op: OperatorProcess, emu,
                 control_plane_pids: dict[str, int], apiserver: ApiserverMetrics | None) -> None:
        self.args, self.server, self.kube, self.op, self.emu = args, server, kube, op, emu
        self.control_plane_pids, self.apiserver = control_plane_pids, apiserver
        self.n, self.conc = args.resources, args.concurrency
        self.names = [f"bench-{i:05d}" for i in range(self.n)]
        self.res: dict = {}
        self.observer = Observer(kube)
        self.ready_at = self.observer.ready_at

    # ------------------------------------------------------------ helpers

    def cpu(self) -> Counter:
        return Counter({"operator": cpu_seconds(self.op.proc.pid), "Agent Server": cpu_seconds(self.server._proc.pid),
                        "bench+emulator" if self.emu is not None else "bench": cpu_seconds(),
                        **{name: cpu_seconds(pid) for name, pid in self.control_plane_pids.items()}})

    async def kube_requests(self) -> Counter:
        """Kubernetes API requests so far: the operator's (emulator), or everyone's (apiserver metrics)."""
        if self.emu is not None:
            return Counter(self.emu.counts)
        return await self.apiserver.requests() if self.apiserver else Counter()

    def kube_requests_title(self) -> str:
        return ("Kubernetes API requests by the operator" if self.emu is not None else
                "Kubernetes API requests (apiserver_request_total: all clients, the bench's own creates, deletes and "
                "watch included, the controller manager's too)")

    @staticmethod
    def cpu_line(used: Counter, wall: float) -> str:
        return (f"  CPU seconds in {wall:.1f} s wall: " + ", ".join(f"{k} {v:.1f}" for k, v in used.items())
                + f" ({os.cpu_count()} cores)")

    def profile(self, name: str):
        return self.op.profile(Path(self.args.profile) / f"{name}.txt") if self.args.profile else None

    async def total_requests(self) -> int:
        return sum((await self.op.server_requests()).values())

    # ------------------------------------------------------------ phases

    async def baseline(self) -> None:
        """The same N create bodies POSTed with plain httpx, then deleted again: once in a sequential
        loop (the target's baseline), once with the bench's concurrency (the fastest plain client)."""
        now = datetime.now(UTC)
        bodies = [desired_cron(parse_spec({**SPEC, "input": {"text": name}}),
                               Identity(uid=str(uuid.uuid4()), namespace="baseline", name=name, cluster="bench-baseline"),
                               now, forward_end_time=False) for name in self.names]
        async with httpx.AsyncClient(base_url=self.server.url, timeout=60,
                                     limits=httpx.Limits(max_connections=self.conc)) as http:
            ids: list[str] = []

            async def create(body: dict) -> None:
                response = await http.post("/runs/crons", json=body)
                response.raise_for_status()
                ids.append(response.json()["cron_id"])

            async def delete(cron_id: str) -> None:
                (await http.delete(f"/runs/crons/{cron_id}")).raise_for_status()

            await create(bodies[0])  # warm-up (the server's first-request costs), not timed
            await delete(ids.pop())
            for key, concurrency in (("baseline", 1), ("baseline_concurrent", self.conc)):
                started = time.monotonic()
                await bounded(concurrency, bodies, create)
                self.res[key] = time.monotonic() - started
                started = time.monotonic()
                await bounded(self.conc, ids, delete)
                ids.clear()
                how = "a sequential loop" if concurrency == 1 else f"{concurrency} concurrent"
                say(f"{'' if concurrency > 1 else chr(10)}baseline: plain httpx, {how}: {self.n} x POST /runs/crons in "
                    f"{self.res[key]:.2f} s ({self.n / self.res[key]:.0f}/s); deleted again in {time.monotonic() - started:.2f} s")

    async def create(self) -> None:
        created_at: dict[str, float] = {}

        async def create_one(name: str) -> None:
            await self.kube.create(name, {**SPEC, "input": {"text": name}})
            created_at[name] = time.monotonic()

        spy, cpu0, k8s0, started = self.profile("create"), self.cpu(), await self.kube_requests(), time.monotonic()
        creating = asyncio.create_task(bounded(self.conc, self.names, create_one, self.args.rate))
        await self.observer.until(lambda: len(self.ready_at) >= self.n and creating.done(), self.args.timeout)
        await creating
        wall, requests, rss = time.monotonic() - started, await self.op.server_requests(), self.op.memory_mb("VmHWM")
        used = self.res["create_cpu"] = self.cpu() - cpu0
        cpu = self.cpu_line(used, wall)
        await stop_profile(spy)
        ready = self.res["ready"] = max(self.ready_at.values()) - started if len(self.ready_at) == self.n else None
        latencies = [max(0.0, self.ready_at[k] - created_at[k]) for k in self.ready_at]
        self.requests_ready = requests

        say(f"\noperator: {self.n} LangGraphCrons created in {max(created_at.values()) - started:.2f} s "
            f"({self.conc} concurrent creates{f', at most {self.args.rate:g} per second' if self.args.rate else ''})")
        say(f"  all Ready (Ready=True, observedGeneration=generation) {ready:.2f} s after the first create" if ready
            else f"  NOT all Ready: {len(self.ready_at)}/{self.n} after {self.args.timeout:g} s")
        if latencies:
            say(f"  create->Ready latency: p50 {pct(latencies, 50):.2f} s, p95 {pct(latencies, 95):.2f} s, "
                f"max {max(latencies):.2f} s (Ready seen through a watch)")
        say(f"  Agent Server requests until all Ready: {sum(requests.values())} "
            f"({sum(requests.values()) / self.n:.2f} per resource)\n{by_endpoint(requests)}")
        k8s = await self.kube_requests() - k8s0
        say(f"  {self.kube_requests_title()} until all Ready: {sum(k8s.values())}\n" + table(k8s, min_count=self.n // 10 or 1))
        say(f"{cpu}\n  operator peak RSS so far (VmHWM): {rss:.1f} MB; Kubernetes Events in the namespace: "
            f"{await self.kube.event_reasons()}")

    async def settle(self) -> None:
        """Agent Server requests the operator still makes after the last resource turned Ready."""
        last, t0 = sum(self.requests_ready.values()), time.monotonic()
        last_change = t0
        while time.monotonic() - last_change < 2.0 and time.monotonic() - t0 < 120:
            await asyncio.sleep(0.25)
            if (total := await self.total_requests()) != last:
                last, last_change = total, time.monotonic()
        tail = await self.op.server_requests() - self.requests_ready
        say(f"  after all Ready: {sum(tail.values())} more Agent Server requests, the last "
            f"{last_change - t0:.1f} s after all Ready" + (":\n" + by_endpoint(tail) if tail else ""))
        reconciles = await self.op.counter("lgcron_reconciles_total", "backend", "result")
        say("  reconciles so far: " + ", ".join(f"{'/'.join(k)}={v}" for k, v in sorted(reconciles.items())))

    async def steady(self) -> None:
        """Resync passes with nothing to change (3, or --passes): requests, RSS after each pass, status writes."""
        interval = self.args.resync_interval
        versions = {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in await self.kube.list()}
        before = await self.op.server_requests()
        first = last = sum(before.values())
        spy, cpu0, t0 = self.profile("resync"), self.cpu(), time.monotonic()
        last_change, passes = None, []
        # Ends as soon as the third pass is over: a later pass caught half-way would be counted in the
        # requests but not in the passes.
        while len(passes) < self.args.passes and time.monotonic() - t0 < (self.args.passes + 1) * interval + 15:
            await asyncio.sleep(0.25)
            if (total := await self.total_requests()) != last:
                last, last_change = total, time.monotonic()
            elif last_change is not None and time.monotonic() - last_change >= 1.0:  # 1 s quiet: the pass is over
                passes.append((last_change - t0, self.op.memory_mb()))
                last_change = None
        window = time.monotonic() - t0
        cpu = self.cpu_line(self.cpu() - cpu0, window)
        await stop_profile(spy)
        changed = sum(o["metadata"]["resourceVersion"] != versions.get(o["metadata"]["name"]) for o in await self.kube.list())
        self.res["per_pass"] = (last - first) / len(passes) if passes else None
        self.res["steady_writes"] = changed
        self.res["rss_passes"] = [rss for _, rss in passes]

        say(f"\nsteady state: {window:.1f} s from a quiet moment, {len(passes)} resync passes seen")
        for i, (at, rss) in enumerate(passes, 1):
            say(f"  pass {i} at +{at:4.1f} s: operator RSS after it {rss:.1f} MB")
        say(f"  Agent Server requests: {last - first} in {window:.1f} s"
            + (f", {self.res['per_pass']:.1f} per pass every {interval:g} s = {self.res['per_pass'] / interval:.3f}/s"
               if passes else "")
            + f"\n{by_endpoint(await self.op.server_requests() - before)}\n{cpu}")
        say(f"  status writes: {'none' if not changed else 'YES'} ({changed} of {len(versions)} resourceVersions changed)")
        # Run history is on (the default): it asks the server only about crons whose run time came.
        history_requests = sum(count for (_method, endpoint, _code), count in (await self.op.server_requests() - before).items()
                               if endpoint.startswith("/threads"))
        say(f"  run history requests: {history_requests} in {len(passes)} passes (bound per pass: 0 when no cron's "
            "run time came, else ceil(threads/1000) + thread crons due + new failures + pruned threads)")

    async def delete(self) -> None:
        """Delete all resources: the finalizers delete their crons."""
        before, k8s_before = await self.op.server_requests(), await self.kube_requests()
        cpu0, started = self.cpu(), time.monotonic()
        await bounded(self.conc, self.names, self.kube.delete)
        await self.observer.until(lambda: not self.observer.present, self.args.timeout)
        wall, left = time.monotonic() - started, self.observer.present
        used = self.res["delete_cpu"] = self.cpu() - cpu0
        deleted_requests = await self.op.server_requests() - before
        leftovers = await server_crons(self.server.url)
        say(f"\ndeletion: {self.n} deleted ({self.conc} concurrent) and "
            + (f"gone in {wall:.2f} s" if not left else f"{len(left)} still present after {self.args.timeout:g} s")
            + f"; crons left on the server: {leftovers}\n{by_endpoint(deleted_requests)}")
        self.res["delete_per_resource"] = sum(deleted_requests.values()) / self.n
        say(f"  Agent Server requests per deleted resource: {self.res['delete_per_resource']:.2f}")
        say(f"  {self.kube_requests_title()}:\n" + table(await self.kube_requests() - k8s_before, min_count=self.n // 10 or 1))
        say(self.cpu_line(used, wall))
        self.res["rss_peak"], log = self.op.memory_mb("VmHWM"), self.op.log_path.read_bytes()
        say(f"operator peak RSS over the whole run (VmHWM): {self.res['rss_peak']:.1f} MB; "
            f"its log: {log.count(bytes([10]))} lines, {len(log) / 1024:.0f} KB")

    def targets(self) -> None:
        res, n = self.res, self.n
        ready, rss, per_pass = res.get("ready"), res.get("rss_passes", []), res.get("per_pass")
        # Paced creation waits on purpose: its time to Ready says nothing against an unpaced loop.
        ratio = ready / res["baseline"] if ready is not None and "baseline" in res and not self.args.rate else None
        growth = rss[-1] - rss[0] if len(rss) >= 3 else None
        limit = math.ceil(n / 1000) + 1
        concurrent = f", {ready / res['baseline_concurrent']:.2f}x the concurrent loop" if ratio is not None else ""
        rows = [
            ("all Ready time / sequential httpx loop <= 3", ratio is not None and ratio <= 3,
             "n/a" if ratio is None else f"{ratio:.2f} ({ready:.2f} s / {res['baseline']:.2f} s{concurrent})"),
            (f"all Ready within {30 * n / 1000:g} s (30 s per 1000)",
             ready is not None and (ready <= 30 * n / 1000 or bool(self.args.rate)),
             "n/a" if ready is None else f"{ready:.2f} s"),
            ("operator peak RSS <= 150 MB" if n <= 1000 else "operator peak RSS <= 100 MB + 30 KB x N",
             res["rss_peak"] <= (150 if n <= 1000 else 100 + 0.03 * n), f"{res['rss_peak']:.1f} MB"),
            (f"no RSS growth over {len(rss) or self.args.passes} passes (<= 2 MB)", growth is not None and growth <= 2,
             "n/a" if growth is None else f"{growth:+.1f} MB ({', '.join(f'{r:.1f}' for r in rss)})"),
            (f"steady-state requests per pass <= {limit}", per_pass is not None and per_pass <= limit,
             "n/a" if per_pass is None else f"{per_pass:.1f}"),
            ("steady-state status writes == 0", res.get("steady_writes") == 0, str(res.get("steady_writes"))),
            ("Agent Server requests per deleted resource <= 2", res.get("delete_per_resource", 99) <= 2,
             f"{res.get('delete_per_resource', float('nan')):.2f}"),
        ]
        say(f"\nTARGETS (N={n})")
        for name, ok, measured in rows:
            say(f"  {'PASS' if ok else 'FAIL'}  {name:<48} {measured}")
        create_cpu, delete_cpu = res.get("create_cpu", Counter()), res.get("delete_cpu", Counter())
        say(f"\nSCALE LINE (N={n}): all Ready {ready if ready is not None else float('nan'):.1f} s, "
            f"peak RSS {res['rss_peak']:.1f} MB (budget 100 MB + 30 KB x N = {100 + 0.03 * n:.0f} MB), "
            f"operator CPU per resource: create {1000 * create_cpu['operator'] / n:.2f} ms, "
            f"delete {1000 * delete_cpu['operator'] / n:.2f} ms; whole system CPU per resource: create "
            f"{1000 * sum(create_cpu.values()) / n:.2f} ms")


async def server_crons(server_url: str, cluster: str = "bench") -> int:
    """Crons the operator made (tagged lgcron.io/cluster=bench) still on the server."""
    async with httpx.AsyncClient(base_url=server_url, timeout=60) as http:
        response = await http.post("/runs/crons/count", json={"metadata": {"lgcron.io/cluster": cluster}})
        response.raise_for_status()
        return response.json()


async def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="lgcron-bench-"))
    async with contextlib.AsyncExitStack() as stack:  # tears down in reverse: operator, namespace, Kubernetes, server
        (workdir / "server").mkdir()
        server = AgentServerProcess(GRAPHS, workdir=workdir / "server")
        stack.callback(server.stop)
        await asyncio.to_thread(server.start)
        control_plane_pids, apiserver = {}, None
        if args.kube == "kubeconfig":
            kubeconfig, emu = Path(os.environ["KUBECONFIG"]).expanduser(), None
            await asyncio.to_thread(apply_crd, kubeconfig)
            where = f"real cluster ({kubeconfig})"
            apiserver = ApiserverMetrics(kubeconfig)
        elif args.kube == "control-plane":
            control_plane = start_control_plane(os.environ["KUBEBUILDER_ASSETS"])
            stack.callback(control_plane.stop)
            kubeconfig, emu, control_plane_pids = control_plane.kubeconfig, None, control_plane.pids()
            await asyncio.to_thread(apply_crd, kubeconfig)
            where = (f"private control plane from KUBEBUILDER_ASSETS ({', '.join(control_plane_pids)}; "
                     f"{control_plane.url})")
            apiserver = ApiserverMetrics(kubeconfig)
        else:
            kubeconfig, emu = await stack.enter_async_context(emulator(workdir))
            where = "kmock emulator (tests/operator/kube_emulator.py) in the bench process"
        kube = Kube(kubeconfig, f"lgcron-bench-{secrets.token_hex(3)}", args.concurrency)
        stack.push_async_callback(kube.aclose)
        await kube.create_namespace()
        stack.push_async_callback(kube.delete_namespace)
        say(f"== lgcron bench: N={args.resources}, concurrency {args.concurrency}, resync interval "
            f"{args.resync_interval:g} s, {os.cpu_count()} cores\n   Kubernetes: {where}, namespace {kube.namespace}\n"
            f"   Agent Server: in-memory langgraph-api {importlib.metadata.version('langgraph-api')} at {server.url}\n"
            f"   logs: {workdir}/operator.log, {server.log_path}")
        op = OperatorProcess(kubeconfig=kubeconfig, namespace=kube.namespace, server_url=server.url,
                             resync=args.resync_interval, log_path=workdir / "operator.log")
        bench = Bench(args, server, kube, op, emu, control_plane_pids, apiserver)
        bench.observer.start()
        stack.push_async_callback(bench.observer.stop)
        if not args.no_baseline:
            await bench.baseline()  # before the operator starts: the server is otherwise idle
        stack.push_async_callback(op.stop)
        op.start()
        await op.wait_started()
        say(f"operator started (pid {op.proc.pid}, RSS {op.memory_mb():.1f} MB idle)")
        await bench.create()
        await bench.settle()
        await bench.steady()
        await bench.delete()
        bench.targets()
        say("\nteardown: stopping the operator, the Kubernetes API and the Agent Server")
    say(f"done (logs kept in {workdir})")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--resources", type=int, metavar="N", help="LangGraphCrons to create (1000; 200 with --admission)")
    parser.add_argument("--resync-interval", type=float, default=10.0, metavar="S", help="LGCRON_RESYNC_INTERVAL (10)")
    parser.add_argument("--concurrency", type=int, default=10, metavar="C",
                        help="concurrent creates/deletes of the resources, and of the baseline's crons (10)")
    parser.add_argument("--passes", type=int, default=3, metavar="K",
                        help="steady-state resync passes to watch (3); more shows whether RSS settles or grows")
    parser.add_argument("--rate", type=float, metavar="R",
                        help="create at most R resources per second (a GitOps sync that trickles in; unpaced by default). "
                             "Paced below what the system sustains, no backlog builds up: the operator's cost per "
                             "resource, apart from contention for the CPU")
    parser.add_argument("--timeout", type=float, default=180.0, metavar="S", help="give up waiting after (180)")
    parser.add_argument("--profile", metavar="DIR",
                        help="py-spy the operator (pip install py-spy) while creating and resyncing: DIR/{create,resync}.txt")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the plain-httpx baseline (for scale runs: no ratio is printed)")
    parser.add_argument("--kube", choices=["emulator", "control-plane", "kubeconfig"],
                        default="control-plane" if os.environ.get("KUBEBUILDER_ASSETS") else "emulator",
                        help="the Kubernetes API: a private etcd + kube-apiserver + kube-controller-manager started from "
                             "$KUBEBUILDER_ASSETS (the default when it is set), the kmock emulator in this process "
                             "(the default otherwise), or the cluster in $KUBECONFIG")
    parser.add_argument("--real-cluster", action="store_const", const="kubeconfig", dest="kube",
                        help="same as --kube kubeconfig")
    starts = parser.add_mutually_exclusive_group()
    for scenario in ("restart", "failover", "cold-start"):
        starts.add_argument(f"--{scenario}", action="store_const", const=scenario, dest="lifecycle",
                            help=f"measure a {scenario} instead (bench/lifecycle.py)")
    starts.add_argument("--admission", action="store_true", help="measure the admission webhook's cost (bench/admission.py)")
    args = parser.parse_args()
    args.resources = args.resources or (200 if args.admission else 1000)
    if (args.lifecycle or args.admission) and args.kube == "emulator":  # kmock has no admission chain either
        parser.error(f"--{args.lifecycle or 'admission'} runs on a real Kubernetes API: set KUBEBUILDER_ASSETS or use --kube kubeconfig")
    if args.kube == "kubeconfig" and not os.environ.get("KUBECONFIG"):
        parser.error("--kube kubeconfig needs KUBECONFIG")
    if args.kube == "control-plane" and not os.environ.get("KUBEBUILDER_ASSETS"):
        parser.error("--kube control-plane needs KUBEBUILDER_ASSETS (e.g. KUBEBUILDER_ASSETS=$(../shared/k8s/unpack))")
    try:
        # uvloop, like the operator: the emulator and the load generator share the 2 cores with the
        # system measured, and uvloop's sockets cost less CPU than asyncio's.
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            if args.admission:
                from bench.admission import run_admission

                runner.run(run_admission(args))
            elif args.lifecycle:
                from bench.lifecycle import run_lifecycle

                runner.run(run_lifecycle(args))
            else:
                runner.run(run(args))
    except KeyboardInterrupt:
        print("interrupted; everything was stopped", file=sys.stderr)


if __name__ == "__main__":
    main()
