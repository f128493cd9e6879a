"""The reconcile service: the I/O around the pure decisions in `reconcile.py`.

Called by the kopf handlers (and by the file-mode CLI), it takes a parsed object, talks to the
Agent Server through `AgentServerClient`, and returns the status to write, the Events to post,
and when to retry. It never raises for expected failures: every failure is an `Outcome`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx

from langgraph_cron.clients import metrics
from langgraph_cron.clients.agent_server import (
    AgentServerClient,
    AgentServerError,
    Cron,
    CronNotFound,
    Rejected,
    ServerUnavailable,
    backoff_delay,
    make_http_client,
)
from langgraph_cron.clients.kube import KubernetesApiError, SecretNotFound
from langgraph_cron.core import connections, history, runcontrol
from langgraph_cron.core.connections import Connection
from langgraph_cron.core.cronjob import (
    UID_LABEL,
    InvokerTarget,
    build_cronjob,
    build_cronjob_status,
    cronjob_name,
    cronjob_update,
    is_controlled_by,
    job_from_cronjob,
    refreshed_cronjob_schedule,
    run_request,
)
from langgraph_cron.core.models import (
    ActiveRun,
    LangGraphCronSpec,
    LangGraphCronStatus,
    SecretKeyRef,
    TriggerState,
    format_time,
    parse_time,
)
from langgraph_cron.core.objects import CronObject, Result
from langgraph_cron.core.plan import desired_cron, observed_cron, plan_update
from langgraph_cron.core.settings import Settings
from langgraph_cron.core.spec import (
    CLUSTER_KEY,
    RELEASED_KEY,
    UID_KEY,
    InvalidSpec,
    ServerNotAllowed,
    effective,
    parse_spec,
)
from langgraph_cron.core.status import EventRecord, Outcome, build_status, status_patch

logger = logging.getLogger(__name__)

# Errors a person has to fix elsewhere (a Secret, an assistant deployment, a key) are retried
# slowly: hammering the server will not fix them, but they must heal by themselves once fixed.
SLOW_RETRY_SECONDS = 60.0
# The longest backoff between attempts (a server's Retry-After included).
MAX_RETRY_SECONDS = 300.0


class KubeApi(Protocol):
    """What the service needs from Kubernetes (langgraph_cron.clients.kube.KubeClient in the operator)."""

    async def read_secret_value(self, namespace: str, name: str, key: str) -> str: ...
    async def get_cronjob(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    async def create_cronjob(self, cronjob: dict[str, Any]) -> dict[str, Any]: ...
    async def patch_cronjob(self, namespace: str, name: str, merge_patch: dict[str, Any]) -> dict[str, Any] | None: ...
    async def delete_cronjob(self, namespace: str, name: str) -> None: ...
    async def list_jobs(self, namespace: str, label_selector: str) -> list[dict[str, Any]]: ...
    async def create_job(self, job: dict[str, Any]) -> None: ...


class CronJobConflict(Exception):
    """A CronJob of the derived name exists but belongs to someone else: never take it over."""

    reason = "CronJobConflict"


CronIdCallback = Callable[[str, str], Awaitable[None]]

# A resync pass trusts a fingerprint at most this long before it checks the object in full again.
FINGERPRINT_MAX_AGE = timedelta(hours=1)


def cron_digest(raw: Mapping[str, Any]) -> str:
    """A digest of a cron exactly as the server returned it: any change on the server changes it
    (a patch, or a run that moves next_run_date)."""
    return hashlib.blake2b(json.dumps(raw, separators=(",", ":")).encode(), digest_size=16).hexdigest()


@dataclass(frozen=True)
class _Fingerprint:
    """An object found in sync: valid while its resourceVersion and its cron stay the same."""

    resource_version: str | None
    connection: Connection
    cron_id: str
    cron_digest: str
    valid_until: datetime


@dataclass
class _Candidate:
    """An object in a resync pass; parsed only when its fingerprint does not settle it."""

    body: Mapping[str, Any]
    fingerprint: _Fingerprint | None
    obj: CronObject | None = None
    spec: LangGraphCronSpec | None = None
    connection: Connection | None = None

    def object(self, service: CronService) -> CronObject:
        if self.obj is None:
            self.obj = service._object(self.body)
        return self.obj

    def parsed_spec(self, service: CronService) -> LangGraphCronSpec | None:
        if self.spec is None:
            try:
                obj = self.object(service)
                self.spec = effective(parse_spec(obj.raw_spec), obj.identity.namespace, obj.identity.name)
            except InvalidSpec:
                return None
        return self.spec


class CronService:
    def __init__(
        self,
        settings: Settings,
        http: httpx.AsyncClient,
        kube: KubeApi | None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.http = http
        # None when reconciling files without Kubernetes (no Secrets, no cronJob backend).
        self.kube = kube
        self.clock = clock
        self.managed = metrics.ManagedResources()
        # Last key read per Secret: lets a deletion finish after its namespace's Secret is gone.
        self._last_known_keys: dict[tuple[str, str, str], str] = {}
        self._gates: dict[str, asyncio.Semaphore] = {}  # per server URL
        self._clients: dict[tuple[str, str | None, str | None, float | None], AgentServerClient] = {}
        self._gate_sizes: dict[str, int] = {}
        self._ca_clients: dict[str, httpx.AsyncClient] = {}  # by CA bundle digest
        # The run history this process last computed (see history.HistoryMemory).
        self.history = history.HistoryMemory()
        # Server objects the crons refer to (the operator's watch), or none (file mode).
        self.servers: connections.ServerLookup = connections.NoServers()
        # Objects no operator can have made a cron for yet: see `mark_pristine`.
        self._pristine: set[str] = set()
        # uid -> what a resync pass last found in sync: see `resync`.
        self._fingerprints: dict[str, _Fingerprint] = {}
        # uid -> (server URL, cron id): the object's only cron, as this process last left it. Lets a
        # deletion skip the uid search. Only trusted when no other replica can act meanwhile.
        self._sole_crons: dict[str, tuple[str, str]] = {}
        self.remember_sole_crons = True
        # Whether a run-history pass prunes kept threads (the operator); `lgcron apply` has none.
        self.prunes_history = True

    # ------------------------------------------------------------ connection
    # Which server and credential: decided in connections.py; here only the reading of keys and
    # the clients built from them.

    def connection(self, spec: LangGraphCronSpec, namespace: str, *, require_ready: bool = True) -> Connection:
        """Where this spec's cron lives and the credential bound there (ServerNotFound, ServerNotReady,
        ServerNotAllowed or InvalidSpec before any request)."""
        return connections.resolve(spec, namespace, self.servers, self.settings, require_ready=require_ready)

    def bound_connection(self, obj: CronObject, url: str, spec: LangGraphCronSpec | None) -> Connection:
        """The connection for crons this object may have left on `url` (see connections.bound_connection)."""
        return connections.bound_connection(
            url, obj.status.server_ref, obj.identity.namespace, spec, self.servers, self.settings
        )

    async def api_key(self, connection: Connection, *, allow_last_known: bool = False) -> str | None:
        """The API key bound to this connection, or None."""
        secret = connection.secret
        if secret is None or self.kube is None:
            # No Secret bound, or file mode (`lgcron apply` has no Secrets to read): LGCRON_API_KEY,
            # and only where the operator's own key is bound.
            if not connection.operator_key or self.settings.api_key is None:
                return None
            return self.settings.api_key.get_secret_value()
        cache_key = (secret.namespace, secret.name, secret.key)
        try:
            value = await self.kube.read_secret_value(secret.namespace, secret.name, secret.key)
        except SecretNotFound:
            if allow_last_known and cache_key in self._last_known_keys:
                return self._last_known_keys[cache_key]
            raise
        self._last_known_keys[cache_key] = value
        return value

    async def _ca_bundle(self, connection: Connection) -> str | None:
        if connection.ca_bundle_ref is None or self.kube is None:
            return connection.ca_bundle
        ref = connection.ca_bundle_ref
        try:
            if ref.kind == "Secret":
                return await self.kube.read_secret_value(ref.namespace, ref.name, ref.key)
            return await self.kube.read_configmap_value(ref.namespace, ref.name, ref.key)
        except SecretNotFound as exc:
            raise SecretNotFound(f"caBundleRef: {exc}") from None

    async def client_for(self, connection: Connection, *, allow_last_known: bool = False) -> AgentServerClient:
        """A client of this connection, with the key and CA bundle bound to it."""
        key = await self.api_key(connection, allow_last_known=allow_last_known)
        return self.client(connection, key, ca_pem=await self._ca_bundle(connection))

    def client(self, connection: Connection | str, api_key: str | None, *, ca_pem: str | None = None) -> AgentServerClient:
        """The client of one server and key, kept: building one parses the URL, on every reconcile."""
        if isinstance(connection, str):
            connection = Connection(url=connection)
        identity = (connection.url, api_key, connections.ca_digest(ca_pem), connection.timeout)
        client = self._clients.get(identity)
        if client is None:
            if len(self._clients) >= 256:  # keys rotate; old ones must not pile up
                self._clients.clear()
            gate = self._gates.get(connection.url)
            size = connection.max_concurrency or self.settings.server_concurrency
            if gate is None or self._gate_sizes.get(connection.url) != size:
                gate = self._gates[connection.url] = asyncio.Semaphore(size)
                self._gate_sizes[connection.url] = size
            client = self._clients[identity] = AgentServerClient(
                self._http_for(ca_pem), connection.url, api_key, gate=gate, timeout=connection.timeout
            )
        return client

    def _http_for(self, ca_pem: str | None) -> httpx.AsyncClient:
        """The shared HTTP client, or one that trusts a server object's own CA bundle."""
        if ca_pem is None:
            return self.http
        digest = connections.ca_digest(ca_pem) or ""
        http = self._ca_clients.get(digest)
        if http is None:
            try:
                context = ssl.create_default_context(cadata=ca_pem)
            except (ssl.SSLError, ValueError) as exc:
                raise InvalidSpec(f"caBundle: not a PEM CA certificate bundle ({type(exc).__name__})") from None
            http = self._ca_clients[digest] = make_http_client(
                verify=context, timeout=self.settings.request_timeout, hooks=self.http.event_hooks
            )
        return http

    async def aclose(self) -> None:
        for http in self._ca_clients.values():
            await http.aclose()
        self._ca_clients.clear()

    def invalidate_server(self, key: connections.ServerKey) -> None:
        """A server object changed: the next pass looks at its crons in full."""
        for uid, known in list(self._fingerprints.items()):
            if known.connection.via == key:
                del self._fingerprints[uid]

    def mark_pristine(self, uid: str) -> None:
        """This process saw the object before any finalizer was on it.

        Creates run only after the finalizer is on (kopf adds it first; the resync pass skips
        objects without it), so no operator, this one or an earlier one, has made a cron for it:
        its first create may skip the search for an earlier cron. The mark is dropped before that
        create is sent, so a retry after a lost response searches again.
        """
        self._pristine.add(uid)

    def forget(self, uid: str) -> None:
        """The object is gone: drop what this process remembers of it."""
        self.history.forget(uid)
        self._pristine.discard(uid)
        self._sole_crons.pop(uid, None)
        self._fingerprints.pop(uid, None)
        self.managed.forget(uid)

    def keep_only(self, live_uids: Collection[str]) -> None:
        """Drop the marks of objects deleted before they were ever handled."""
        self._pristine.intersection_update(live_uids)
        live = set(live_uids)
        self.history.keep_only(live)
        for uid in self._sole_crons.keys() - live:
            del self._sole_crons[uid]
        for uid in self._fingerprints.keys() - live:
            del self._fingerprints[uid]

    def _remember_sole_cron(self, uid: str, url: str, cron_id: str) -> None:
        if self.remember_sole_crons and uid:
            self._sole_crons[uid] = (url, cron_id)

    def _known_sole_cron(self, obj: CronObject, url: str) -> str | None:
        """The cron id when this process knows it is the object's only cron, on `url`, and the
        status agrees (a status written by anyone else since would not)."""
        known = self._sole_crons.get(obj.identity.uid)
        if known is None or known != (url, obj.status.cron_id) or obj.status.server_url not in (None, url):
            return None
        return known[1]

    # ------------------------------------------------------------ reconcile

    async def reconcile(self, obj: CronObject, *, attempt: int = 0, on_cron_id: CronIdCallback | None = None) -> Result:
        backend = str(obj.raw_spec.get("backend") or "agentServer")
        started = time.perf_counter()
        result = await self._reconcile(obj, attempt=attempt, on_cron_id=on_cron_id)
        ready = result.status.condition("Ready")
        outcome = "ready" if ready and ready.status == "True" else "stalled" if result.done else "retrying"
        metrics.RECONCILE_SECONDS.labels(backend).observe(time.perf_counter() - started)
        metrics.RECONCILES.labels(backend, outcome).inc()
        if obj.identity.uid:
            self.managed.update(obj.identity.uid, backend, outcome == "ready")
        return result

    async def _reconcile(self, obj: CronObject, *, attempt: int, on_cron_id: CronIdCallback | None) -> Result:
        now = self.clock()
        events: list[EventRecord] = []
        # Whatever happens below may leave other crons behind (a failed delete, a lost create
        # response): only a completed _ensure says again which cron is the only one.
        self._sole_crons.pop(obj.identity.uid, None)
        # Newer than the body when a status write has not come back through the watch yet.
        previous = self.history.base(obj.identity.uid, obj.status)
        spec: LangGraphCronSpec | None = None
        try:
            spec = effective(parse_spec(obj.raw_spec), obj.identity.namespace, obj.identity.name)
            target = self.connection(spec, obj.identity.namespace)
            url = target.url
            if spec.backend == "cronJob":
                # Never both live: the server cron goes first, and the CronJob follows in the same pass.
                await self._retire_server_crons(obj, spec, target, events)
                # The Jobs first: a failure streak they show may pause the CronJob in this same pass.
                jobs = await self._require_kube().list_jobs(obj.identity.namespace, f"{UID_LABEL}={obj.identity.uid}")
                folded = history.fold(previous, history.runs_from_jobs(jobs), now=now, generation=obj.generation)
                events.extend(folded.events)
                metrics.record_runs(obj.identity.namespace, obj.identity.name, folded.counted,
                                    folded.status.runs.consecutive_failures if folded.status.runs else 0)
                control = self._controls(spec, folded.status, obj, now, events)
                cronjob = await self._ensure_cronjob(self._backend_spec(spec, control), obj, target, now, events)
                status = build_cronjob_status(control.status, outcome=control.stopped or Outcome.ready(spec, now),
                                              generation=obj.generation, now=now, spec=self._backend_spec(spec, control),
                                              cronjob=cronjob)
                await self._handle_trigger(spec, control, status, obj, now, events, cronjob=cronjob)
            else:
                await self._retire_cronjob(obj, events)
                control = self._controls(spec, previous, obj, now, events)
                backend_spec = self._backend_spec(spec, control)
                client = await self.client_for(target)
                moved_from = obj.status.server_url if obj.status.server_url not in (None, url) else None
                # Create on the new server first, then delete from the old: never a moment without a
                # cron, and status keeps naming the old one until it is gone (a crash retries both).
                cron = await self._ensure(client, backend_spec, obj, now, events, url, on_cron_id, moved_from=moved_from)
                if moved_from is not None:
                    # `keep`: two URLs of one server (an alias) show the same cron on both.
                    await self._delete_from(obj, spec, moved_from, events, why=f"it moved to {url}", keep=cron.cron_id)
                self._remember_sole_cron(obj.identity.uid, url, cron.cron_id)
                status = build_status(
                    control.status, outcome=control.stopped or Outcome.ready(spec, now), generation=obj.generation,
                    now=now, spec=backend_spec, cron=cron, server_url=url,
                    server_ref=target.via.ref if target.via else None,
                )
                status.conditions = history.with_condition(
                    status.conditions, history.availability_condition(spec, status, obj.generation), now)
                await self._handle_trigger(spec, control, status, obj, now, events, client=client)
        except (InvalidSpec, SecretNotFound, AgentServerError, CronJobConflict, KubernetesApiError) as exc:
            return self._failure(obj, exc, attempt, now, events)
        self.history.remember(obj.identity.uid, status)
        outcome = control.stopped or Outcome.ready(spec, now)
        previous_ready = obj.status.condition("Ready")
        if outcome.reason not in ("Scheduled", "PausedAfterFailures", "RunBudgetExhausted") and (
                previous_ready is None or previous_ready.reason != outcome.reason):
            events.append(EventRecord("Normal", outcome.reason, outcome.message))
        return Result(status=status, events=events)

    def _controls(self, spec: LangGraphCronSpec, status: LangGraphCronStatus, obj: CronObject, now: datetime,
                  events: list[EventRecord]) -> runcontrol.Control:
        control = runcontrol.apply_controls(spec, status, generation=obj.generation, annotations=obj.annotations,
                                            now=now)
        events.extend(control.events)
        metrics.PAUSED.labels(obj.identity.namespace, obj.identity.name).set(1 if control.status.paused else 0)
        return control

    @staticmethod
    def _backend_spec(spec: LangGraphCronSpec, control: runcontrol.Control) -> LangGraphCronSpec:
        """What the backend gets: disabled while paused or out of budget, the spec itself unchanged."""
        return spec.model_copy(update={"enabled": False}) if control.stopped is not None else spec

    async def _handle_trigger(self, spec: LangGraphCronSpec, control: runcontrol.Control, status: LangGraphCronStatus,
                              obj: CronObject, now: datetime, events: list[EventRecord], *,
                              client: AgentServerClient | None = None, cronjob: dict[str, Any] | None = None) -> None:
        """Start one run for a new lgcron.io/trigger value (or say why not), and record the value."""
        value = runcontrol.pending_trigger(obj.annotations, status)
        if value is None:
            return
        refusal = runcontrol.trigger_refusal(spec, control.stopped, now)
        if refusal is not None:
            status.last_trigger = TriggerState(value=value, time=format_time(now), refused=refusal)
            events.append(EventRecord("Warning", "TriggerRefused", f"{runcontrol.TRIGGER_ANNOTATION}={value!r}: no run: {refusal}"))
            return
        if cronjob is not None:
            state = await self._trigger_job(cronjob, obj, value, now)
            events.append(EventRecord("Normal", "Triggered", f"{runcontrol.TRIGGER_ANNOTATION}={value!r}: created Job {state.job_name}"))
        else:
            assert client is not None
            state = await self._trigger_run(client, spec, obj, value, now)
            events.append(EventRecord("Normal", "Triggered", f"{runcontrol.TRIGGER_ANNOTATION}={value!r}: started run "
                                                             f"{state.run_id} on thread {state.thread_id}"))
            # A run is going: the run history looks at this cron from the next pass on, as for any run.
            status.active_runs = [*(status.active_runs or []),
                                  ActiveRun(run_id=state.run_id, thread_id=state.thread_id, start_time=state.time)]
        status.last_trigger = state

    async def _trigger_run(self, client: AgentServerClient, spec: LangGraphCronSpec, obj: CronObject, value: str,
                           now: datetime) -> TriggerState:
        """One run now, with the cron's payload, assistant and thread. Exactly once per value: a retry
        after a crash finds the run it made (by a thread id derived from the value, or on a thread
        cron's thread by the run's metadata) instead of making another."""
        tags = {**obj.identity.metadata(), runcontrol.TRIGGER_KEY: value}
        body = runcontrol.run_body(run_request(spec, obj.identity, now), tags)
        if spec.thread_id:
            thread_id = spec.thread_id
        else:
            thread_id = runcontrol.trigger_thread_id(obj.identity.uid or f"{obj.identity.namespace}/{obj.identity.name}",
                                                     value)
            await client.create_thread(thread_id, metadata=tags)
            body.pop("multitask_strategy", None)  # a fresh thread of its own: nothing to queue behind
        for raw in await client.thread_runs_raw(thread_id, limit=100):
            metadata = raw.get("metadata") or {}
            if metadata.get(runcontrol.TRIGGER_KEY) == value and metadata.get(UID_KEY) == obj.identity.uid:
                return TriggerState(value=value, time=format_time(now), run_id=str(raw["run_id"]), thread_id=thread_id)
        run = await client.create_run(thread_id, body)
        return TriggerState(value=value, time=format_time(now), run_id=run.run_id, thread_id=run.thread_id)

    async def _trigger_job(self, cronjob: dict[str, Any], obj: CronObject, value: str, now: datetime) -> TriggerState:
        """A Job from the CronJob's template now, owned by it; its name comes from the value (409: made)."""
        name = runcontrol.trigger_job_name(cronjob["metadata"]["name"], value)
        job = job_from_cronjob(cronjob, name, {runcontrol.TRIGGER_ANNOTATION: value})
        await self._require_kube().create_job(job)
        return TriggerState(value=value, time=format_time(now), job_name=name)

    # ------------------------------------------------------------ batched resync

    async def resync(self, bodies: Iterable[Mapping[str, Any]]) -> tuple[list[tuple[CronObject, Result]], list[CronObject]]:
        """One drift check of many objects: a paged search per (server, key) instead of a request each.

        Returns the objects whose status should be refreshed (in sync with the server, but
        nextRunDate moved), and the objects that need a full `reconcile` (missing, changed or
        duplicated crons, expiry, errors). Invalid specs are skipped: they make no server calls
        until the spec changes. An object found in sync is fingerprinted (its resourceVersion and
        its cron exactly as the server returned it): while neither changes, and no run time or
        endTime has passed, the next pass compares the fingerprint and nothing else.
        """
        now = self.clock()
        in_sync: list[tuple[CronObject, Result]] = []
        dirty: list[CronObject] = []
        groups: dict[AgentServerClient, dict[str, _Candidate]] = {}
        clients: dict[Connection, AgentServerClient] = {}  # one Secret read per connection and pass

        async def client_of(connection: Connection) -> AgentServerClient:
            if connection not in clients:
                clients[connection] = await self.client_for(connection)
            return clients[connection]

        for body in bodies:
            meta = body["metadata"]
            known = self._fingerprints.get(meta["uid"])
            if known is not None and known.resource_version == meta.get("resourceVersion") and now < known.valid_until:
                try:
                    client = await client_of(known.connection)
                except (SecretNotFound, InvalidSpec):
                    dirty.append(self._object(body))
                    continue
                groups.setdefault(client, {})[meta["uid"]] = _Candidate(body, known, connection=known.connection)
                continue
            self._fingerprints.pop(meta["uid"], None)
            obj = self._object(body)
            try:
                spec = effective(parse_spec(obj.raw_spec), obj.identity.namespace, obj.identity.name)
                connection = self.connection(spec, obj.identity.namespace)
            except InvalidSpec as exc:
                ready = obj.status.condition("Ready")
                if ready is not None and ready.reason != exc.reason:
                    dirty.append(obj)  # e.g. its server went away: say so
                # Else stalled until the spec changes, or its server object does (which requeues it).
                continue
            ready = obj.status.condition("Ready")
            if (ready is not None and ready.reason == "PausedAfterFailures"
                    and obj.status.observed_generation == obj.generation):
                continue  # disabled on purpose until a person resumes it (a spec or annotation change)
            if ready is None or ready.status != "True" or obj.status.observed_generation != obj.generation:
                dirty.append(obj)  # failing or unfinished: the full path retries it
            elif spec.backend == "cronJob":
                # CronJob drift arrives as watch events; only time-driven changes are left to check.
                if Outcome.ready(spec, now).reason != ready.reason:
                    dirty.append(obj)
                else:
                    in_sync.append((obj, Result(status=refreshed_cronjob_schedule(obj.status, spec, now))))
            else:
                try:
                    client = await client_of(connection)
                except (SecretNotFound, InvalidSpec):
                    dirty.append(obj)
                    continue
                groups.setdefault(client, {})[obj.identity.uid] = _Candidate(body, None, obj, spec, connection)
        for client, members in groups.items():
            try:
                found = await self._crons_by_uid(client, members)
            except AgentServerError:
                dirty.extend(candidate.object(self) for candidate in members.values())
                continue
            for uid, candidate in members.items():
                crons = found.get(uid, [])
                if len(crons) == 1 and crons[0][2] is None:
                    continue  # exactly as at the fingerprint: nothing to do, nothing to write
                self._fingerprints.pop(uid, None)
                obj, spec = candidate.object(self), candidate.parsed_spec(self)
                if spec is None:
                    continue
                cron = client.parse(crons[0][2]) if len(crons) == 1 else None
                # As the last reconcile left it: disabled while paused or out of budget.
                previous = self.history.base(obj.identity.uid, obj.status)
                control = runcontrol.apply_controls(spec, previous, generation=obj.generation,
                                                    annotations=obj.annotations, now=now)
                backend_spec = self._backend_spec(spec, control)
                desired = desired_cron(backend_spec, obj.identity, now, forward_end_time=self.settings.forward_end_time,
                                       history_pruned=self.prunes_history)
                if (
                    cron is not None
                    and cron.cron_id == obj.status.cron_id
                    and plan_update(desired, observed_cron(cron), thread_id=spec.thread_id).action == "noop"
                    and not control.events  # a resume or a pause to act on: the full path
                ):
                    connection = candidate.connection
                    status = build_status(
                        control.status, outcome=control.stopped or Outcome.ready(spec, now), generation=obj.generation,
                        now=now, spec=backend_spec, cron=cron, server_url=connection.url,
                        server_ref=connection.via.ref if connection.via else None,
                    )
                    in_sync.append((obj, Result(status=status)))
                    if status_patch(obj.status, status) is None:  # no write follows: this body stays current
                        self._fingerprint(obj, spec, connection, crons[0], now)
                else:
                    dirty.append(obj)
        return in_sync, dirty

    def _object(self, body: Mapping[str, Any]) -> CronObject:
        return CronObject.from_body(body, cluster=self.settings.cluster_id)

    async def _crons_by_uid(
        self, client: AgentServerClient, members: Mapping[str, _Candidate]
    ) -> dict[str, list[tuple[str, str, dict[str, Any] | None]]]:
        """This cluster's crons on one server, by uid: (cron id, digest, raw JSON). The raw JSON is
        None for a cron exactly as its object's fingerprint says (the common case), so a pass
        holds little more than one page at a time."""
        found: dict[str, list[tuple[str, str, dict[str, Any] | None]]] = {}
        seen: set[str] = set()
        async for page in client.search_pages(metadata={CLUSTER_KEY: self.settings.cluster_id}):
            for raw in page:
                metadata = raw.get("metadata")
                uid = metadata.get(UID_KEY) if isinstance(metadata, dict) else None
                candidate = members.get(uid) if isinstance(uid, str) else None
                if candidate is None or raw["cron_id"] in seen:
                    continue
                seen.add(raw["cron_id"])
                digest, known = cron_digest(raw), candidate.fingerprint
                unchanged = known is not None and (known.cron_id, known.cron_digest) == (raw["cron_id"], digest)
                found.setdefault(uid, []).append((raw["cron_id"], digest, None if unchanged else raw))
        return found

    def _fingerprint(self, obj: CronObject, spec: LangGraphCronSpec, connection: Connection,
                     cron: tuple[str, str, Any], now: datetime) -> None:
        """Remember that this object and its cron were in sync, until a run time or endTime passes
        (nextRunDate, upcomingRuns and Expired move then) or an hour, whichever comes first."""
        until = now + FINGERPRINT_MAX_AGE
        if obj.status.upcoming_runs:
            until = min(until, parse_time(obj.status.upcoming_runs[0]))
        if spec.end_time is not None:
            until = min(until, spec.end_time)
        self._fingerprints[obj.identity.uid] = _Fingerprint(
            resource_version=obj.resource_version, connection=connection,
            cron_id=cron[0], cron_digest=cron[1], valid_until=until)

    # ------------------------------------------------------------ cronJob backend

    def _require_kube(self) -> KubeApi:
        if self.kube is None:
            raise InvalidSpec("spec.backend: cronJob needs the operator (Kubernetes access); use agentServer here")
        return self.kube

    async def _ensure_cronjob(
        self, spec: LangGraphCronSpec, obj: CronObject, connection: Connection, now: datetime,
        events: list[EventRecord],
    ) -> dict[str, Any]:
        kube = self._require_kube()
        target = InvokerTarget(
            server_url=connection.url, api_key_secret=self.pod_secret(connection, obj.identity.namespace),
            image=self.settings.invoker_image,
        )
        desired = build_cronjob(spec, obj.identity, target, now)
        namespace, name = obj.identity.namespace, desired["metadata"]["name"]
        observed = await kube.get_cronjob(namespace, name)
        if observed is None:
            observed = await kube.create_cronjob(desired)
            if obj.status.cron_job_name:
                events.append(EventRecord("Warning", "Recreated", f"CronJob {name} was missing; created it again"))
            else:
                events.append(EventRecord("Normal", "Created", f"created CronJob {name}"))
        elif not is_controlled_by(observed, obj.identity.uid):
            raise CronJobConflict(f"CronJob {namespace}/{name} exists and is not owned by this LangGraphCron")
        elif (patch := cronjob_update(desired, observed)) is not None:
            observed = await kube.patch_cronjob(namespace, name, patch) or observed
            events.append(EventRecord("Normal", "Updated", f"updated CronJob {name}"))
        return observed

    def pod_secret(self, connection: Connection, namespace: str) -> SecretKeyRef | None:
        """The Secret whose key the cronJob backend's Pods get: only one bound to the URL they call, and
        only from their own namespace (whoever runs Pods there can read it, so it must be theirs)."""
        if connection.secret is not None and connection.secret.namespace != namespace:
            raise ServerNotAllowed(
                f"spec.backend: cronJob runs each run in a Pod of namespace {namespace!r}, and the key of "
                f"{connection.via} lives in namespace {connection.secret.namespace!r}: it is never handed to "
                "Pods. Use backend agentServer, or a LangGraphServer (and its Secret) in this namespace"
            )
        if connection.ca_bundle or connection.ca_bundle_ref:
            raise InvalidSpec(
                f"spec.backend: cronJob Pods cannot use the caBundle of {connection.via} yet; use backend agentServer"
            )
        if connection.secret is None and connection.operator_key and self.settings.api_key is not None:
            raise InvalidSpec(
                "spec.server.apiKeySecretRef: the cronJob backend hands the API key to its Pods only from a "
                "Secret; set apiKeySecretRef (or the operator's LGCRON_API_KEY_SECRET)"
            )
        if connection.secret is None:
            return None
        return SecretKeyRef(name=connection.secret.name, key=connection.secret.key)

    async def _retire_cronjob(self, obj: CronObject, events: list[EventRecord], *, orphan: bool = False) -> None:
        """Delete (or, for Orphan, release) this object's CronJob, if it ever had one."""
        if self.kube is None or not (obj.status.cron_job_name or obj.status.backend == "cronJob"):
            return
        namespace, name = obj.identity.namespace, obj.status.cron_job_name or cronjob_name(obj.identity.name)
        observed = await self.kube.get_cronjob(namespace, name)
        if observed is None or not is_controlled_by(observed, obj.identity.uid):
            return
        if orphan:
            # Without its owner reference, garbage collection would delete it with the resource.
            await self.kube.patch_cronjob(namespace, name, {"metadata": {"ownerReferences": None}})
            events.append(EventRecord("Normal", "Orphaned", f"left CronJob {name} in place"))
        else:
            await self.kube.delete_cronjob(namespace, name)
            events.append(EventRecord("Normal", "Deleted", f"deleted CronJob {name}"))

    async def _retire_server_crons(self, obj: CronObject, spec: LangGraphCronSpec, target: Connection,
                                   events: list[EventRecord]) -> None:
        """Delete server crons left from the agentServer backend (searched unless known to be none)."""
        if obj.status.backend == "cronJob" and not obj.status.cron_id:
            return
        if obj.status.server_url:
            await self._delete_from(obj, spec, obj.status.server_url, events, why="the backend is now cronJob")
        if target.url != obj.status.server_url:
            await self._delete_with(target, obj, events, why="the backend is now cronJob")

    async def _delete_from(self, obj: CronObject, spec: LangGraphCronSpec | None, url: str,
                           events: list[EventRecord], *, why: str, keep: str | None = None) -> None:
        """Delete the object's crons on a URL it used before, with the key bound to that URL (maybe
        none): never the key of the URL the spec names now."""
        await self._delete_with(self.bound_connection(obj, url, spec), obj, events, why=why, keep=keep)

    async def _delete_with(self, connection: Connection, obj: CronObject, events: list[EventRecord], *,
                           why: str, keep: str | None = None) -> None:
        """Delete the object's crons on one connection. A URL not allowed gets no request at all."""
        if not connections.url_may_be_called(connection, self.settings):
            events.append(EventRecord("Warning", "ServerNotAllowed",
                                      f"did not delete cron {obj.status.cron_id or '(unknown)'} ({why}): its server "
                                      "is not in LGCRON_ALLOWED_SERVER_URLS, so no request was sent there"))
            return
        client = await self.client_for(connection, allow_last_known=True)
        await self._delete_all(client, obj, events, why=why, keep=keep)

    async def _ensure(
        self,
        client: AgentServerClient,
        spec: LangGraphCronSpec,
        obj: CronObject,
        now: datetime,
        events: list[EventRecord],
        url: str,
        on_cron_id: CronIdCallback | None,
        *,
        moved_from: str | None = None,
    ) -> Cron:
        desired = desired_cron(spec, obj.identity, now, forward_end_time=self.settings.forward_end_time,
                                       history_pruned=self.prunes_history)
        if moved_from is not None:
            # No early status write while moving: status must name the old server until its cron is gone.
            on_cron_id = None
        # Search by uid rather than trusting status.cronId: it finds a cron created just before a
        # crash (adopt, never duplicate) and any duplicates, for the same one request a GET costs.
        if obj.identity.uid in self._pristine and not obj.status.cron_id:
            self._pristine.discard(obj.identity.uid)  # before the create: a retry searches
            matches = []
        else:
            matches = await self._owned_crons(client, obj)
        if not matches:
            cron = await self._create(client, spec, desired)
            if moved_from is not None:
                events.append(EventRecord("Normal", "Moved", f"created cron {cron.cron_id} on {url} (moving from {moved_from})"))
            elif obj.status.cron_id:
                events.append(EventRecord("Warning", "Recreated", f"cron {obj.status.cron_id} was missing on the server; created {cron.cron_id}"))
            else:
                events.append(EventRecord("Normal", "Created", f"created cron {cron.cron_id}"))
            # No on_cron_id here: no remote call follows, so the caller's status write comes at once
            # (an extra write would cost a watch event per object). A crash before it is covered by
            # the uid search above, which adopts the cron next time.
            return cron

        current = next((c for c in matches if c.cron_id == obj.status.cron_id), None)
        if current is None:
            current = min(matches, key=lambda c: (c.created_at or now, c.cron_id))
            events.append(EventRecord("Normal", "Adopted", f"adopted existing cron {current.cron_id}"))
            if on_cron_id:
                await on_cron_id(current.cron_id, url)
        for duplicate in matches:
            if duplicate.cron_id != current.cron_id:
                await self._delete_one(client, duplicate.cron_id)
                events.append(EventRecord("Warning", "DuplicateDeleted", f"deleted duplicate cron {duplicate.cron_id}"))

        plan = plan_update(desired, observed_cron(current), thread_id=spec.thread_id)
        if plan.action == "patch":
            cron = await client.patch(current.cron_id, plan.patch)
            events.append(EventRecord("Normal", "Updated", f"updated cron {cron.cron_id}: {', '.join(plan.reasons)}"))
            return cron
        if plan.action == "replace":
            # Create first: a failure in between leaves two crons (deduplicated next time), never zero.
            cron = await self._create(client, spec, desired)
            if on_cron_id:
                await on_cron_id(cron.cron_id, url)
            await self._delete_one(client, current.cron_id)
            events.append(
                EventRecord("Normal", "Replaced", f"replaced cron {current.cron_id} with {cron.cron_id}: {'; '.join(plan.reasons)}")
            )
            return cron
        return current

    async def _create(self, client: AgentServerClient, spec: LangGraphCronSpec, desired: dict[str, Any]) -> Cron:
        if spec.thread_id:
            return await client.create_for_thread(spec.thread_id, desired)
        return await client.create(desired)

    @staticmethod
    async def _delete_one(client: AgentServerClient, cron_id: str) -> None:
        try:
            await client.delete(cron_id)
        except CronNotFound:
            pass  # already gone is what we wanted

    def _failure(
        self,
        obj: CronObject,
        exc: Exception,
        attempt: int,
        now: datetime,
        events: list[EventRecord],
        *,
        doing: str = "",
        max_delay: float = MAX_RETRY_SECONDS,
    ) -> Result:
        reason = getattr(exc, "reason", "Error")
        message = f"{doing}{exc}"
        if isinstance(exc, (InvalidSpec, Rejected)) or getattr(exc, "permanent", False):
            outcome, retry_after = Outcome(reason, message, "stalled"), None
        elif isinstance(exc, ServerUnavailable):
            delay = backoff_delay(attempt, exc.retry_after, cap=max_delay)
            outcome, retry_after = Outcome(reason, message, "retrying"), delay
        else:
            outcome = Outcome(reason, message, "retrying")
            delay = backoff_delay(attempt, getattr(exc, "retry_after", None), cap=max_delay)
            retry_after = max(SLOW_RETRY_SECONDS, delay)
        previous = obj.status.condition("Ready")
        if previous is None or (previous.reason, previous.message) != (reason, message):
            events.append(EventRecord("Warning", reason, message))
        logger.warning("%s/%s: %s: %s", obj.identity.namespace, obj.identity.name, reason, message)
        status = build_status(self.history.base(obj.identity.uid, obj.status), outcome=outcome,
                              generation=obj.generation, now=now)
        if outcome.kind == "stalled" and (value := runcontrol.pending_trigger(obj.annotations, status)) is not None:
            # A cron that cannot be in place cannot run either: say so once, and never run that value later.
            status.last_trigger = TriggerState(value=value, time=format_time(now), refused=f"{reason}: {message}")
            events.append(EventRecord("Warning", "TriggerRefused",
                                      f"{runcontrol.TRIGGER_ANNOTATION}={value!r}: no run: {reason}: {message}"))
        return Result(status=status, events=events, retry_after=retry_after, done=outcome.kind == "stalled")

    # ------------------------------------------------------------ delete

    async def finalize(self, obj: CronObject, *, attempt: int = 0) -> Result:
        """Delete every cron and CronJob of this object (Orphan: leave them). done=False until gone."""
        now = self.clock()
        events: list[EventRecord] = []
        raw = obj.raw_spec
        orphan = raw.get("deletionPolicy") == "Orphan"
        try:
            await self._retire_cronjob(obj, events, orphan=orphan)
            if orphan:
                if obj.status.cron_id:
                    await self._mark_released(obj)
                    events.append(EventRecord("Normal", "Orphaned", f"left cron {obj.status.cron_id} on the server"))
                return Result(status=obj.status, events=events)
            if not self._may_have_server_crons(obj):
                return Result(status=obj.status, events=events)
            spec, target = self._deletion_target(obj)
            url = target.url if target else obj.status.server_url
            if url is None:
                return Result(status=obj.status, events=events)
            where = target if target is not None and target.url == url else self.bound_connection(obj, url, spec)
            if (sole := self._known_sole_cron(obj, url)) is not None and connections.url_may_be_called(where, self.settings):
                # Created, adopted or checked by this process, with duplicates removed: one DELETE.
                client = await self.client_for(where, allow_last_known=True)
                await self._delete_one(client, sole)
                events.append(EventRecord("Normal", "Deleted", f"deleted cron {sole} (the resource was deleted)"))
                return Result(status=obj.status, events=events)
            if obj.status.server_url:
                await self._delete_from(obj, spec, obj.status.server_url, events, why="the resource was deleted")
            if target is not None and target.url != obj.status.server_url:
                # A cron made just before a crash, before status named it.
                await self._delete_with(target, obj, events, why="the resource was deleted")
        except (SecretNotFound, AgentServerError, KubernetesApiError, InvalidSpec) as exc:
            # A held deletion blocks `kubectl delete` and whole namespaces: once the server is back
            # it must finish within a minute, not after a backoff grown over a long outage.
            result = self._failure(obj, exc, attempt, now, events, doing="cannot delete the cron yet: ",
                                   max_delay=SLOW_RETRY_SECONDS)
            result.done = False
            return result
        return Result(status=obj.status, events=events)

    def _deletion_target(self, obj: CronObject) -> tuple[LangGraphCronSpec | None, Connection | None]:
        """The spec (if valid) and where it names, for a deletion: a server object that exists and
        allows the cron is enough, Ready or not."""
        try:
            spec = parse_spec(obj.raw_spec)
        except InvalidSpec:
            return None, None
        try:
            return spec, self.connection(spec, obj.identity.namespace, require_ready=False)
        except InvalidSpec:
            return spec, None

    async def _mark_released(self, obj: CronObject) -> None:
        """Tag a cron left behind on purpose, so `lgcron audit` and the GC never count it as an orphan.

        Best effort: Orphan promises not to block on the server, so a failure is only logged.
        """
        url = obj.status.server_url or self.settings.server_url
        if url is None:
            return
        try:
            connection = self.bound_connection(obj, url, self._deletion_target(obj)[0])
            if not connections.url_may_be_called(connection, self.settings):
                return
            client = await self.client_for(connection, allow_last_known=True)
            await client.patch(obj.status.cron_id, {"metadata": {RELEASED_KEY: "true"}})
        except (InvalidSpec, SecretNotFound, AgentServerError) as exc:
            logger.warning("%s/%s: could not tag cron %s as released: %s", obj.identity.namespace, obj.identity.name,
                           obj.status.cron_id, exc)

    def _may_have_server_crons(self, obj: CronObject) -> bool:
        if obj.status.cron_id:
            return True
        if obj.status.backend == "cronJob" or (obj.status.backend is None and obj.raw_spec.get("backend") == "cronJob"):
            return False
        try:
            parse_spec(obj.raw_spec)
        except InvalidSpec:
            # A spec that never validated never made a cron, unless an earlier valid one did (cronId).
            return False
        return True

    @staticmethod
    async def _owned_crons(client: AgentServerClient, obj: CronObject) -> list[Cron]:
        found = await client.search_all(metadata=obj.identity.search_filter)
        return [cron for cron in found if obj.identity.owns(cron.metadata)]

    async def _delete_all(self, client: AgentServerClient, obj: CronObject, events: list[EventRecord], *, why: str,
                          keep: str | None = None) -> None:
        ids = [c.cron_id for c in await self._owned_crons(client, obj)]
        if obj.status.cron_id and obj.status.cron_id not in ids:
            ids.append(obj.status.cron_id)
        for cron_id in ids:
            if cron_id == keep:
                continue
            await self._delete_one(client, cron_id)
            events.append(EventRecord("Normal", "Deleted", f"deleted cron {cron_id} ({why})"))
