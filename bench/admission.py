"""`python -m bench --admission`: what the validating admission webhook costs an apply.

Two runs of the operator on the same Kubernetes API and Agent Server, each in a namespace of its own:
first without the webhook (no LGCRON_WEBHOOK_* in its environment), then with it on loopback
(LGCRON_WEBHOOK_HOST=127.0.0.1, a free port, a configuration and a TLS Secret of the bench's own,
reviewing only its namespace). The second run starts measuring once the ValidatingWebhookConfiguration
has its three webhooks and a dry-run apply of a bad spec (schedule '61 7 * * *') is denied.

In each run, N valid LangGraphCrons (200 unless --resources) are applied one at a time, as `kubectl
apply -f` sends a new object: a POST create with fieldValidation=Strict, kubectl's field manager and
its last-applied annotation, the next one as soon as the previous answer is in (with --rate R, the i-th
no sooner than i/R s after the first, in both runs: the same load for each). Measured: each create
request's latency, and the time from the start of each create until the bench's watch sees the object
Ready=True (observedGeneration = generation). Then N dry-run applies of the invalid spec: with the
webhook on, its refusal round trip (each must be refused with the sentence reconcile's InvalidSpec
condition would carry); with it off the CRD admits it (the webhook is the only level that knows minute
61 is out of range), which is the same round trip without the webhook.

Both runs start with the same untimed warm-up (5 dry-run applies, then 5 applies waited to Ready). The
apiserver's own measure of the webhook calls (apiserver_admission_webhook_admission_duration_seconds)
is printed next to the client-side figures. Target: a valid cron Ready < 1 s after its apply with the webhook on, at p50 and p99.

The apiserver must be able to call https://127.0.0.1:PORT: a private control plane (KUBEBUILDER_ASSETS),
or with --kube kubeconfig a cluster whose apiserver runs on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import importlib.metadata
import json
import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from kube_test_api import LGCRON_API_VERSION, LGCRON_KIND, api_path
from langgraph_cron.clients.devserver import AgentServerProcess, free_port
from langgraph_cron.core.spec import InvalidSpec, parse_spec
from prometheus_client.parser import text_string_to_metric_families

from bench.cluster import Kube, Observer, apply_crd, start_control_plane
from bench.common import GRAPHS, pct, say
from bench.operator_proc import OperatorProcess

VALID = {"schedule": "0 9 1 1 *", "assistantId": "agent"}  # 09:00 on 1 January: nothing fires during the run
INVALID = {"schedule": "61 7 * * *", "assistantId": "agent"}  # passes the CRD (5 fields), not croniter
WARM_UP = 5
CONFIGURATIONS = api_path("admissionregistration.k8s.io/v1", "validatingwebhookconfigurations")
WEBHOOK_METRIC = "apiserver_admission_webhook_admission_duration_seconds"
READY_TARGET = 1.0


def spread(values: list[float]) -> str:
    """p50/p99/max in ms."""
    if not values:
        return "no samples"
    return f"p50 {1000 * pct(values, 50):.1f} ms, p99 {1000 * pct(values, 99):.1f} ms, max {1000 * max(values):.1f} ms"


def expected_refusal() -> str:
    """The sentence reconcile's InvalidSpec condition carries for INVALID: the webhook must say the same."""
    try:
        parse_spec(INVALID)
    except InvalidSpec as exc:
        return str(exc)
    raise AssertionError(f"the invalid spec parses: {INVALID}")


def manifest(namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The object as `kubectl apply` creates it: with its last-applied-configuration annotation."""
    applied = {"apiVersion": LGCRON_API_VERSION, "kind": LGCRON_KIND,
               "metadata": {"name": name, "namespace": namespace}, "spec": spec}
    annotation = json.dumps(applied, separators=(",", ":"), sort_keys=True) + "\n"
    return {**applied, "metadata": {**applied["metadata"],
                                    "annotations": {"kubectl.kubernetes.io/last-applied-configuration": annotation}}}


async def apply(kube: Kube, name: str, spec: dict[str, Any], *, dry_run: bool = False) -> tuple[int, str, float]:
    """One create as kubectl apply sends it: (HTTP status, the apiserver's message, seconds)."""
    params = {"fieldManager": "kubectl-client-side-apply", "fieldValidation": "Strict"}
    if dry_run:
        params["dryRun"] = "All"
    body = json.dumps(manifest(kube.namespace, name, spec))
    started = time.monotonic()
    response = await kube.http.post(kube.path(), params=params, content=body,
                                    headers={"content-type": "application/json"})
    took = time.monotonic() - started
    message = ""
    if response.status_code >= 300:
        try:
            message = response.json().get("message", "")
        except ValueError:
            message = response.text
    return response.status_code, message, took


async def webhook_durations(kube: Kube) -> collections.Counter:
    """The apiserver's histogram of this bench's webhook calls: {(operation, rejected, 'sum'|'count'): value}."""
    response = await kube.http.get("/metrics", headers={"Accept": "text/plain"})
    response.raise_for_status()
    found: collections.Counter = collections.Counter()
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name in (f"{WEBHOOK_METRIC}_sum", f"{WEBHOOK_METRIC}_count") \
                    and sample.labels.get("type") == "validating" \
                    and sample.labels.get("name", "").startswith("langgraphcron."):
                found[(sample.labels["operation"], sample.labels["rejected"], sample.name.rsplit("_", 1)[1])] += \
                    sample.value
    return found


class Run:
    """One operator (webhook on or off) watching one namespace, and the applies measured against it."""

    def __init__(self, args: argparse.Namespace, server: AgentServerProcess, kubeconfig: Path, workdir: Path,
                 webhook: bool) -> None:
        self.args, self.n, self.webhook = args, args.resources, webhook
        self.label = "webhook on" if webhook else "webhook off"
        self.kube = Kube(kubeconfig, f"lgcron-bench-{'on' if webhook else 'off'}-{secrets.token_hex(3)}", 10)
        self.configuration = f"{self.kube.namespace}.validation.lgcron.io"
        self.op = OperatorProcess(kubeconfig=kubeconfig, namespace=self.kube.namespace, server_url=server.url,
                                  resync=args.resync_interval,
                                  log_path=workdir / f"operator-{'on' if webhook else 'off'}.log")
        if webhook:
            self.op.env.update(LGCRON_WEBHOOK_HOST="127.0.0.1", LGCRON_WEBHOOK_PORT=str(free_port()),
                               LGCRON_WEBHOOK_CONFIGURATION=self.configuration,
                               LGCRON_WEBHOOK_TLS_SECRET=f"{self.kube.namespace}/lgcron-webhook-tls",
                               LGCRON_WEBHOOK_NAMESPACES=self.kube.namespace)
        self.observer = Observer(self.kube)
        self.res: dict[str, Any] = {}

    async def get_configuration(self) -> dict[str, Any] | None:
        response = await self.kube.http.get(f"{CONFIGURATIONS}/{self.configuration}")
        return response.json() if response.status_code == 200 else None

    async def until(self, what: str, check, timeout: float = 60.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.op.proc.poll() is not None:
                raise RuntimeError(f"the operator exited with {self.op.proc.returncode}; see {self.op.log_path}")
            if found := await check():
                return found
            await asyncio.sleep(0.1)
        raise RuntimeError(f"{what}: not within {timeout:g} s; see {self.op.log_path}")

    async def start(self) -> None:
        await self.kube.create_namespace()
        started = time.monotonic()
        self.op.start()
        await self.op.wait_started()
        if self.webhook:
            async def configured() -> dict[str, Any] | None:
                found = await self.get_configuration()
                return found if found and len(found.get("webhooks") or []) == 3 else None

            async def refused() -> bool:
                _, message, _ = await apply(self.kube, "probe", INVALID, dry_run=True)
                return "denied the request" in message

            hooks = (await self.until("the ValidatingWebhookConfiguration's webhooks", configured))["webhooks"]
            await self.until("the webhook's first refusal", refused)
            say(f"  configuration {self.configuration}: {len(hooks)} webhooks ("
                + ", ".join(h["name"] for h in hooks) + f"), failurePolicy "
                f"{'/'.join(sorted({h['failurePolicy'] for h in hooks}))}, timeout "
                f"{'/'.join(sorted({str(h['timeoutSeconds']) for h in hooks}))} s; the webhook refused the probe "
                f"{time.monotonic() - started:.1f} s after the operator started")
        else:
            others = (await self.kube.call("GET", CONFIGURATIONS))["items"]
            say(f"  operator without LGCRON_WEBHOOK_*; ValidatingWebhookConfigurations in the cluster: "
                f"{len(others)}" + (f" ({', '.join(c['metadata']['name'] for c in others)})" if others else ""))
        self.observer.start()
        await self.observer.until(lambda: True, 30)
        # Untimed, in both runs: WARM_UP dry-runs and WARM_UP real applies waited to Ready, so that neither
        # run pays for first requests (the apiserver's and webhook's connections, the operator's and the
        # Agent Server's first reconciles).
        warm = [f"warm-up-{i}" for i in range(WARM_UP)]
        for name in warm:
            await apply(self.kube, name, VALID, dry_run=True)
        for name in warm:
            await apply(self.kube, name, VALID)
        if not await self.observer.until(lambda: all(n in self.observer.ready_at for n in warm), 60):
            raise RuntimeError(f"the warm-up objects did not turn Ready; see {self.op.log_path}")

    async def measure(self) -> None:
        names = [f"bench-{i:05d}" for i in range(self.n)]
        applied_at: dict[str, float] = {}
        latencies, created, failures = [], [], collections.Counter()
        metrics0 = await webhook_durations(self.kube)
        first = time.monotonic()
        for i, name in enumerate(names):
            if self.args.rate:  # the i-th apply starts no sooner than i/rate s after the first
                await asyncio.sleep(max(0.0, first + i / self.args.rate - time.monotonic()))
            applied_at[name] = time.monotonic()
            status, message, took = await apply(self.kube, name, VALID)
            if status == 201:
                latencies.append(took)
                created.append(name)
            else:
                failures[f"{status} {message[:120]}"] += 1
        wall = time.monotonic() - first
        await self.observer.until(lambda: all(n in self.observer.ready_at for n in created), self.args.timeout)
        ready = [self.observer.ready_at[n] - applied_at[n] for n in created if n in self.observer.ready_at]
        self.res.update(apply=latencies, ready=ready, created=len(created), rate=self.n / wall)
        paced = f" (at most {self.args.rate:g}/s)" if self.args.rate else ""
        say(f"  {self.n} valid applies, one at a time{paced}, in {wall:.2f} s ({self.n / wall:.0f}/s): "
            f"{len(latencies)} created"
            + (f", FAILED: {dict(failures)}" if failures else ""))
        say(f"    apply latency (POST create, fieldValidation=Strict): {spread(latencies)}")
        say(f"    apply->Ready (start of the create to Ready=True seen by a watch): {spread(ready)} "
            f"({len(ready)}/{len(created)} Ready)")

        refusal, sentence = expected_refusal(), collections.Counter()
        rounds = []
        for i in range(self.n):
            status, message, took = await apply(self.kube, f"invalid-{i:05d}", INVALID, dry_run=True)
            rounds.append(took)
            if status == 422 and f"denied the request: {refusal}" in message:
                sentence["refused by the webhook with the InvalidSpec sentence"] += 1
            elif status == 201:
                sentence["admitted"] += 1
            else:
                sentence[f"{status} {message[:160]}"] += 1
        self.res.update(dry_run=rounds, refused=sentence["refused by the webhook with the InvalidSpec sentence"])
        what = "the webhook's refusal round trip" if self.webhook else "admitted: no webhook, the CRD lets minute 61 through"
        say(f"  {self.n} dry-run applies of the invalid spec (schedule '{INVALID['schedule']}'), {what}:")
        say(f"    dry-run latency: {spread(rounds)}")
        say("    answers: " + ", ".join(f"{k}: {v}/{self.n}" for k, v in sentence.most_common()))
        if self.webhook:
            say(f"    refusal: {refusal}")
            durations = await webhook_durations(self.kube) - metrics0
            calls = sorted({(op, rejected) for op, rejected, _ in durations})
            say("  the apiserver's own measure of the webhook calls (" + WEBHOOK_METRIC + "), mean per call: "
                + ("; ".join(f"{op} {'refused' if rejected == 'true' else 'admitted'} "
                             f"{1000 * durations[(op, rejected, 'sum')] / durations[(op, rejected, 'count')]:.1f} ms "
                             f"x {durations[(op, rejected, 'count')]:.0f}"
                             for op, rejected in calls if durations[(op, rejected, 'count')]) or "none"))

    async def finish(self) -> None:
        """Delete the crons while the operator runs (its finalizers go), then stop it."""
        names = [o["metadata"]["name"] for o in await self.kube.list()]
        queue = collections.deque(names)

        async def worker() -> None:
            while queue:
                with contextlib.suppress(httpx.HTTPStatusError):
                    await self.kube.delete(queue.popleft())

        await asyncio.gather(*(worker() for _ in range(10)))
        if not await self.observer.until(lambda: not self.observer.present, self.args.timeout):
            say(f"  {len(self.observer.present)} objects still present after {self.args.timeout:g} s")
        await self.observer.stop()
        await self.op.stop()

    async def cleanup(self) -> None:
        await self.observer.stop()
        await self.op.stop()
        if self.webhook:
            with contextlib.suppress(httpx.HTTPError):
                await self.kube.http.delete(f"{CONFIGURATIONS}/{self.configuration}")
        await self.kube.delete_namespace()
        await self.kube.aclose()


def difference(on: list[float], off: list[float]) -> str:
    if not on or not off:
        return "n/a"
    return ", ".join(f"p{p} {1000 * (pct(on, p) - pct(off, p)):+.1f} ms ({1000 * pct(off, p):.1f} -> "
                     f"{1000 * pct(on, p):.1f})" for p in (50, 99))


def targets(off: Run, on: Run) -> None:
    n = on.n
    say("\nthe webhook's cost (on - off, difference of the percentiles; the off run went first)")
    if not off.args.rate:
        say(f"  (unpaced: the runs applied at {off.res.get('rate', 0):.0f}/s and {on.res.get('rate', 0):.0f}/s, each at the "
            "pace its own apply latency set; apply->Ready depends on that load as much as on the webhook. --rate R "
            "applies at the same pace in both runs)")
    say(f"  apply latency: {difference(on.res.get('apply', []), off.res.get('apply', []))}")
    say(f"  apply->Ready: {difference(on.res.get('ready', []), off.res.get('ready', []))}")
    say(f"  dry-run of the invalid spec (refused vs admitted): "
        f"{difference(on.res.get('dry_run', []), off.res.get('dry_run', []))}")

    ready, created = on.res.get("ready", []), on.res.get("created", 0)
    say(f"\nTARGETS (N={n}, webhook on)")
    for p in (99, 50):
        name = f"valid cron Ready < {READY_TARGET:g} s after apply with the webhook on, p{p}"
        if len(ready) < n or created < n:
            say(f"  MISSED  {name:<64} n/a: {len(ready)}/{n} Ready")
        else:
            figure = pct(ready, p)
            say(f"  {'met' if figure < READY_TARGET else 'MISSED':<6}  {name:<64} {1000 * figure:.1f} ms")
    refused = on.res.get("refused", 0)
    say(f"  {'met' if refused == n else 'MISSED':<6}  {'the webhook refused every invalid apply':<64} {refused}/{n}")


async def run_admission(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="lgcron-bench-"))
    async with contextlib.AsyncExitStack() as stack:  # tears down in reverse: operators, Kubernetes, server
        (workdir / "server").mkdir()
        server = AgentServerProcess(GRAPHS, workdir=workdir / "server")
        stack.callback(server.stop)
        await asyncio.to_thread(server.start)
        if args.kube == "kubeconfig":
            kubeconfig = Path(os.environ["KUBECONFIG"]).expanduser()
            where = f"the cluster in {kubeconfig} (its apiserver must reach 127.0.0.1)"
        else:
            control_plane = start_control_plane(os.environ["KUBEBUILDER_ASSETS"])
            stack.callback(control_plane.stop)
            kubeconfig = control_plane.kubeconfig
            where = f"private control plane from KUBEBUILDER_ASSETS ({', '.join(control_plane.pids())})"
        await asyncio.to_thread(apply_crd, kubeconfig)
        say(f"== lgcron bench --admission: N={args.resources} sequential applies per run, {os.cpu_count()} cores\n"
            f"   Kubernetes: {where}\n"
            f"   Agent Server: in-memory langgraph-api {importlib.metadata.version('langgraph-api')} at {server.url}\n"
            f"   logs: {workdir}")
        runs = []
        for webhook in (False, True):
            run = Run(args, server, kubeconfig, workdir, webhook)
            runs.append(run)
            stack.push_async_callback(run.cleanup)
            say(f"\n{run.label}: namespace {run.kube.namespace}")
            await run.start()
            await run.measure()
            await run.finish()
        targets(*runs)
        say("\nteardown: stopping the operator, the Kubernetes API and the Agent Server")
    say(f"done (logs kept in {workdir})")
