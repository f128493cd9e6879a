"""The bad-input catalogue (tests/bad_inputs.py) against the running operator, in ONE operator run.

Every case is applied at once, next to a valid resource, and each is checked for: the exact Ready
reason, a condition message and a Warning Event naming the field, Stalled=True/Reconciling=False
for spec errors, no status churn over a resync pass (no hot loop), zero connections to the Agent
Server (each case has its own TcpProxy, so a call is pinned on the case that made it; the
missing-Secret case uses `watched_server`, which must stay at zero until its Secret appears), no
cron on the server, and a finalizer released without any server call. Mismatches are collected
per case and reported together at the end.

On kmock nothing validates the schema, so the operator sees every case. On a real cluster
(LGCRON_TEST_KUBECONFIG or KUBEBUILDER_ASSETS) the apiserver sees each first: `schema_rejects` and `cel_rejects`
cases must fail at create with 422 naming the field, and `schema_prunes` cases lose their unknown fields and become Ready.

Cases with a `known_problem` run in a second operator run, pinned with a strict xfail: it fails
for real if one of them gets fixed (so its mark is removed) or if anything else goes wrong.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp.test_utils
import aiohttp.web
import aiohttp.web_runner
import aiohttp.web_server
import kubernetes
import pytest
from kube_test_api import REAL_CLUSTER, api_path
from operator_helpers import condition, crons_of, has_reason, is_ready, resource
from tcp_proxy import TcpProxy

from tests.bad_inputs import CASES, MISSING_SECRET, Case, has_path

NEIGHBOUR = "valid-neighbour"  # a valid resource applied alongside: it must become Ready
MAX_MESSAGE = 2000  # a message must never echo the (possibly 1 MiB) input


# ---------------------------------------------------------------- kmock sized like an apiserver

# A real apiserver takes request bodies up to 3 MiB (etcd objects up to 1.5 MiB); aiohttp under kmock
# stops at 1 MiB, which would refuse the >1 MiB input case before the operator could see it.
APISERVER_MAX_REQUEST_BYTES = 3 * 1024 * 1024
# ...and validates every object's metadata: at most 256 KiB of annotations in total
# (TotalAnnotationSizeLimitB in apimachinery), answered with 422 Invalid.
APISERVER_MAX_ANNOTATION_BYTES = 256 * 1024


def _annotation_bytes(body: Any) -> int:
    """Annotation bytes a create/update/merge-patch body or a JSON patch sets (a lower bound of the result)."""
    if isinstance(body, dict):
        annotations = (body.get("metadata") or {}).get("annotations") or {}
        if not isinstance(annotations, dict):
            return 0
        return sum(len(k) + len(v) for k, v in annotations.items() if isinstance(v, str))
    if isinstance(body, list):
        return sum(len(json.dumps(op.get("value"))) for op in body
                   if isinstance(op, dict) and str(op.get("path", "")).startswith("/metadata/annotations"))
    return 0


class _ApiserverSizedServer(aiohttp.web_server.Server):
    def _make_request(self, *args: Any, **kwargs: Any) -> Any:
        return super()._make_request(*args, **kwargs).clone(client_max_size=APISERVER_MAX_REQUEST_BYTES)


class ApiserverSizedTestServer(aiohttp.test_utils.RawTestServer):
    """kmock's server, taking request bodies as large as an apiserver does."""

    def _wrap(self, handler: Callable[[Any], Awaitable[Any]]) -> Callable[[Any], Awaitable[Any]]:
        return handler

    async def _make_runner(self, debug: bool = True, **kwargs: Any) -> aiohttp.web_runner.ServerRunner:
        server = _ApiserverSizedServer(self._wrap(self._handler), loop=self._loop, debug=debug, **kwargs)
        return aiohttp.web_runner.ServerRunner(server, debug=debug, **kwargs)


class ApiserverLimitsTestServer(ApiserverSizedTestServer):
    """...that also refuses, like an apiserver, a write leaving more than 256 KiB of annotations."""

    def _wrap(self, handler: Callable[[Any], Awaitable[Any]]) -> Callable[[Any], Awaitable[Any]]:
        async def limited(request: Any) -> Any:
            if request.method in ("POST", "PUT", "PATCH") and request.can_read_body:
                raw = await request.read()  # cached: kmock reads it again
                if len(raw) > APISERVER_MAX_ANNOTATION_BYTES:
                    try:
                        size = _annotation_bytes(json.loads(raw))
                    except ValueError:
                        size = 0
                    if size > APISERVER_MAX_ANNOTATION_BYTES:
                        message = (f"metadata.annotations: Too long: must have at most "
                                   f"{APISERVER_MAX_ANNOTATION_BYTES} bytes")
                        return aiohttp.web.json_response(status=422, data={
                            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "reason": "Invalid", "code": 422, "message": message})
            return await handler(request)

        return limited


pytestmark = [pytest.mark.operator, pytest.mark.timeout(240)]


# ---------------------------------------------------------------- expectations per mode


def reaches_operator(case: Case) -> bool:
    """On a real cluster the apiserver answers schema_rejects, cel_rejects and schema_prunes cases itself."""
    return not REAL_CLUSTER or case.operator_only


def is_known_problem(case: Case) -> bool:
    return bool(case.known_problem) and reaches_operator(case)


@dataclass
class Expected:
    """What one case must lead to in this mode."""

    outcome: str  # "condition": a Ready condition; "422": refused at create; "pruned": pruned, then Ready
    reason: str = ""
    ready: bool = False

    @property
    def stalled(self) -> bool:
        # A missing server object is not retried either: its appearance requeues the cron.
        return self.outcome == "condition" and self.reason in ("InvalidSpec", "ServerNotFound")


def expected(case: Case) -> Expected:
    if REAL_CLUSTER and case.rejected_by_crd:
        return Expected("422")
    if REAL_CLUSTER and case.schema_prunes:
        return Expected("pruned", "Scheduled", ready=True)
    return Expected("condition", case.reason, case.ready)


@dataclass
class Run:
    cases: list[Case]
    proxies: dict[str, TcpProxy] = field(default_factory=dict)  # per case that must not reach the server
    created: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> created object
    problems: dict[str, list[str]] = field(default_factory=dict)

    def problem(self, name: str, text: str) -> None:
        self.problems.setdefault(name, []).append(text)

    def listing(self, names: Iterable[str] | None = None) -> str:
        names = list(self.problems) if names is None else list(names)
        return "\n".join(f"  {name}:\n" + "\n".join(f"    - {p}" for p in self.problems.get(name, []))
                         for name in names)


# ---------------------------------------------------------------- observing the namespace


def _ready(obj: dict[str, Any]) -> dict[str, Any] | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), None)


def _settled(obj: dict[str, Any]) -> bool:
    ready = _ready(obj)
    return ready is not None and ready.get("observedGeneration") == obj["metadata"].get("generation")


async def _by_name(kube) -> dict[str, dict[str, Any]]:
    return {obj["metadata"]["name"]: obj for obj in await kube.list()}


async def _events_by_name(kube) -> dict[str, list[dict[str, Any]]]:
    events = (await kube.call("GET", api_path("v1", "events", kube.namespace)))["items"]
    grouped: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        grouped.setdefault(event["involvedObject"]["name"], []).append(event)
    return grouped


async def _wait_until_settled(kube, names: set[str], timeout: float) -> dict[str, dict[str, Any]]:
    """Poll the namespace (one list per poll) until every named object has a current Ready condition."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        objs = await _by_name(kube)
        if all(name in objs and _settled(objs[name]) for name in names):
            return objs
        if asyncio.get_running_loop().time() > deadline:
            return objs
        await asyncio.sleep(0.25)


async def _wait_gone(kube, names: set[str], timeout: float) -> set[str]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = names & set(await _by_name(kube))
        if not left or asyncio.get_running_loop().time() > deadline:
            return left
        await asyncio.sleep(0.25)


# ---------------------------------------------------------------- applying and checking


def _body(case: Case, proxy: TcpProxy | None) -> dict[str, Any]:
    spec = case.full_spec()
    if proxy is not None and "serverRef" not in spec:  # a serverRef names the server itself
        server = spec.get("server")
        if server is None:
            spec["server"] = {"url": proxy.url}
        elif isinstance(server, dict) and "url" not in server:
            spec["server"] = {"url": proxy.url, **server}
    return {"metadata": {"name": case.name}, "spec": spec}


async def _apply(kube, run: Run, agent_server_url: str, watched_server: TcpProxy, secret_case: Case | None) -> None:
    """Create every case (each one that must not reach the server behind its own proxy; the
    missing-Secret case behind `watched_server`) and record create-time outcomes."""
    for case in run.cases:
        want = expected(case)
        proxy = None
        if case is secret_case:
            proxy = run.proxies[case.name] = watched_server
        elif want.outcome == "condition" and not want.ready:
            proxy = run.proxies[case.name] = await TcpProxy.started_for(agent_server_url)
        try:
            run.created[case.name] = await kube.create(_body(case, proxy))
        except kubernetes.client.ApiException as exc:
            body = (exc.body or "")[:300]
            if want.outcome != "422":
                run.problem(case.name, f"create failed unexpectedly: HTTP {exc.status}: {body}")
            elif exc.status != 422:
                run.problem(case.name, f"create failed with HTTP {exc.status}, not 422: {body}")
            elif case.field not in (exc.body or ""):
                run.problem(case.name, f"the 422 does not name {case.field}: {body}")
            continue
        if want.outcome == "422":
            run.problem(case.name, "the apiserver accepted it, but the CRD schema should reject it with 422")
        if want.outcome == "pruned":
            for path in case.schema_prunes:
                if has_path(run.created[case.name]["spec"], path):
                    run.problem(case.name, f"the apiserver kept the unknown field spec.{path}")


def _check_condition(run: Run, case: Case, obj: dict[str, Any] | None, events: list[dict[str, Any]]) -> None:
    want = expected(case)
    if obj is None:
        run.problem(case.name, "the resource is gone")
        return
    ready = _ready(obj)
    if ready is None or not _settled(obj):
        run.problem(case.name, f"no current Ready condition; status: {json.dumps(obj.get('status'))[:300]}")
        return
    if ready["reason"] != want.reason:
        run.problem(case.name, f"Ready reason {ready['reason']!r}, want {want.reason!r}: {ready['message'][:300]}")
    if ready["status"] != ("True" if want.ready else "False"):
        run.problem(case.name, f"Ready={ready['status']}, want {'True' if want.ready else 'False'}")
    if want.outcome == "pruned":
        return
    message = ready.get("message", "")
    if case.field not in message:
        run.problem(case.name, f"the Ready message does not name {case.field!r}: {message[:300]}")
    if len(message) > MAX_MESSAGE:
        run.problem(case.name, f"the Ready message is {len(message)} characters long")
    if want.ready:
        return
    stalled, reconciling = condition(obj, "Stalled")["status"], condition(obj, "Reconciling")["status"]
    if (stalled, reconciling) != (("True", "False") if want.stalled else ("False", "True")):
        run.problem(case.name, f"Stalled={stalled} Reconciling={reconciling}, "
                               f"want {'a stalled' if want.stalled else 'a retrying'} {want.reason}")
    if obj["status"].get("cronId"):
        run.problem(case.name, f"status.cronId is set: {obj['status']['cronId']}")
    warnings = [e for e in events if e.get("reason") == want.reason]
    if len(warnings) != 1 or warnings[0].get("type") != "Warning" or case.field not in warnings[0].get("message", ""):
        run.problem(case.name, f"want exactly one Warning Event {want.reason} naming {case.field!r}, got "
                               f"{[(e.get('type'), e.get('message', '')[:120]) for e in warnings]}")


async def _heal_missing_secret(kube, run: Run, case: Case, watched_server: TcpProxy) -> None:
    if watched_server.connections:
        run.problem(case.name, f"{watched_server.connections} connection(s) to the Agent Server without its API key")
    await kube.create_secret(MISSING_SECRET, {"apiKey": "sk-lgcron-heal-test"})
    try:
        await kube.wait_for(case.name, lambda o: is_ready(o) and has_reason("Scheduled")(o), timeout=20)
    except AssertionError as exc:
        run.problem(case.name, f"did not heal once the Secret appeared: {str(exc)[-300:]}")
        return
    if not watched_server.connections:
        run.problem(case.name, "healed without reaching its server (so the zero count proved nothing)")


async def run_catalogue(kube, operator, server, agent_server, watched_server, cases: list[Case], *,
                        settle_timeout: float, delete_timeout: float) -> Run:
    """Apply `cases` and a valid neighbour in one operator run; return the per-case problems."""
    run = Run(cases)
    secret_case = next((c for c in cases if c.reason == "SecretNotFound" and expected(c).outcome == "condition"), None)
    secret_name = secret_case.name if secret_case else None
    try:
        async with operator():
            await kube.create(resource(NEIGHBOUR))
            await _apply(kube, run, agent_server.url, watched_server, secret_case)
            settled = await _wait_until_settled(kube, set(run.created) | {NEIGHBOUR}, settle_timeout)
            # No hot loop: over one more resync pass (LGCRON_RESYNC_INTERVAL=2) a stalled object is not written.
            await asyncio.sleep(2.5)
            objs = await _by_name(kube)
            events = await _events_by_name(kube)
            for name in run.created:
                case, obj = next(c for c in cases if c.name == name), objs.get(name)
                if expected(case).outcome == "422":
                    continue  # already a problem: the apiserver should have refused it
                _check_condition(run, case, obj, events.get(name, []))
                if expected(case).stalled and obj and name in settled:
                    before, after = settled[name]["metadata"]["resourceVersion"], obj["metadata"]["resourceVersion"]
                    if before != after:
                        run.problem(name, f"written again after it stalled (resourceVersion {before} -> {after})")
            if not is_ready(objs.get(NEIGHBOUR) or {"status": {"conditions": []}, "metadata": {}}):
                status = json.dumps((objs.get(NEIGHBOUR) or {}).get("status"))[:300]
                run.problem(NEIGHBOUR, f"the valid resource applied alongside is not Ready: {status}")

            # Nothing invalid reached the server, nor left a cron there.
            for name, proxy in run.proxies.items():
                if name != secret_name and proxy.connections:
                    run.problem(name, f"{proxy.connections} connection(s) to the Agent Server "
                                      "for a locally-invalid spec")
            for name, obj in run.created.items():
                if name in run.proxies and await crons_of(server, obj):
                    run.problem(name, "a cron exists on the Agent Server for it")

            if secret_case is not None:
                await _heal_missing_secret(kube, run, secret_case, watched_server)

            # Deleting releases every finalizer; an invalid resource's deletion makes no server call
            # (the valid, expired, pruned and healed ones have crons: the operator deletes those).
            invalid = {name for name in run.proxies if name != secret_name}
            before = {name: run.proxies[name].connections for name in invalid}
            existing = set(await _by_name(kube))
            for name in existing:
                await kube.delete(name)
            for name in await _wait_gone(kube, existing, delete_timeout):
                run.problem(name, f"still there {delete_timeout:.0f}s after delete (finalizer not released)")
            for name in invalid & existing:
                if run.proxies[name].connections > before[name]:
                    run.problem(name, f"its deletion made {run.proxies[name].connections - before[name]} "
                                      "connection(s) to the Agent Server")
    finally:
        for proxy in run.proxies.values():
            if proxy is not watched_server:
                await proxy.close()
    return run


# ---------------------------------------------------------------- the tests

REGULAR = [case for case in CASES if not is_known_problem(case)]
KNOWN = [case for case in CASES if is_known_problem(case)]


@pytest.mark.kmock(server_cls=ApiserverLimitsTestServer)
async def test_the_bad_input_catalogue(kube, operator, server, agent_server, watched_server):
    run = await run_catalogue(kube, operator, server, agent_server, watched_server, REGULAR,
                              settle_timeout=45, delete_timeout=30)
    if run.problems:
        pytest.fail(f"{len(run.problems)} of {len(REGULAR)} bad-input cases misbehaved:\n{run.listing()}",
                    pytrace=False)


class KnownProblems(Exception):
    """The catalogued known problems are all still there: the expected failure."""


@pytest.mark.kmock(server_cls=ApiserverLimitsTestServer)
@pytest.mark.xfail(strict=True, raises=KnownProblems,
                   reason="; ".join(f"{case.name}: {case.known_problem}" for case in KNOWN) or "none")
async def test_known_bad_input_problems(kube, operator, server, agent_server, watched_server):
    if not KNOWN:
        pytest.skip("no known problem reaches the operator in this mode")
    run = await run_catalogue(kube, operator, server, agent_server, watched_server, KNOWN,
                              settle_timeout=6, delete_timeout=5)
    known = {case.name for case in KNOWN}
    others = [name for name in run.problems if name not in known]
    assert not others, f"problems besides the known ones:\n{run.listing(others)}"
    fixed = [name for name in known if not run.problems.get(name)]
    assert not fixed, f"fixed: remove known_problem from these cases in tests/bad_inputs.py: {sorted(fixed)}"
    raise KnownProblems(f"still broken:\n{run.listing()}")
