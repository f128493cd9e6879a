"""The coordinator: one reconcile and one deletion of a LangGraphCron, whatever its backend.

Parse the spec (core/spec.py), find its server (the connector), apply the run controls
(core/runcontrol.py), hand the work to the spec's backend (engine/backends/), start a triggered run,
and turn any failure into a status, Events and a retry delay. It never raises for expected failures:
every failure is an `Outcome`. The kopf handlers (controller/) and the file-mode CLI call it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import datetime
from typing import Any

import httpx

from langgraph_cron.clients import metrics
from langgraph_cron.clients.agent_server import (
    AgentServerError,
    Rejected,
    ServerUnavailable,
    backoff_delay,
)
from langgraph_cron.clients.kube import KubernetesApiError, SecretNotFound
from langgraph_cron.core import runcontrol
from langgraph_cron.core.connections import (
    Connection,
    ServerKey,
    ServerNotChecked,
)
from langgraph_cron.core.models import (
    LangGraphCronSpec,
    SecretKeyRef,
    TriggerState,
    format_time,
)
from langgraph_cron.core.objects import CronObject, Result
from langgraph_cron.core.settings import Settings
from langgraph_cron.core.spec import InvalidSpec, parse_effective
from langgraph_cron.core.status import EventRecord, Outcome, build_status
from langgraph_cron.engine.backends import (
    DEFAULT_BACKEND,
    StatusWriter,
    Work,
    registered,
)
from langgraph_cron.engine.backends.cronjob import CronJobBackend, CronJobConflict
from langgraph_cron.engine.connector import Connector
from langgraph_cron.engine.memory import Memory
from langgraph_cron.engine.parts import KubeApi, Parts, utc_now
from langgraph_cron.engine.resync import Resync

logger = logging.getLogger(__name__)

# Errors a person has to fix elsewhere (a Secret, an assistant deployment, a key) are retried
# slowly: hammering the server will not fix them, but they must heal by themselves once fixed.
SLOW_RETRY_SECONDS = 60.0
# The longest backoff between attempts (a server's Retry-After included).
MAX_RETRY_SECONDS = 300.0
# A cron applied together with its server object looks again this soon: the check is under way.
SERVER_CHECK_RETRY_SECONDS = 5.0
# What a reconcile or a deletion may meet; anything else is a bug, and kopf's own retry handles it.
EXPECTED_FAILURES = (InvalidSpec, SecretNotFound, AgentServerError, CronJobConflict, KubernetesApiError)
# Ready reasons that say nothing new when reached again (their conditions already say it).
QUIET_REASONS = ("Scheduled", "PausedAfterFailures", "RunBudgetExhausted")


class CronService:
    def __init__(self, settings: Settings, http: httpx.AsyncClient | None, kube: KubeApi | None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        connector = Connector(settings, http, kube)
        self.parts = Parts(settings=settings, connector=connector, kube=kube, memory=Memory(), clock=clock)
        self.settings, self.connector, self.memory = settings, connector, self.parts.memory
        self.backends = registered(self.parts)
        self.resyncer = Resync(self.parts, self.backends)
        self.managed = metrics.ManagedResources()

    # The parts tests and the controller set after construction.
    clock = property(lambda self: self.parts.clock, lambda self, value: setattr(self.parts, "clock", value))
    kube = property(lambda self: self.parts.kube, lambda self, value: self._use_kube(value))
    servers = property(lambda self: self.connector.servers,
                       lambda self, value: setattr(self.connector, "servers", value))
    remember_sole_crons = property(lambda self: self.memory.remember_sole_crons,
                                   lambda self, value: setattr(self.memory, "remember_sole_crons", value))
    prunes_history = property(lambda self: self.parts.prunes_history,
                              lambda self, value: setattr(self.parts, "prunes_history", value))

    def connection(self, spec: LangGraphCronSpec, namespace: str, *, require_ready: bool = True) -> Connection:
        return self.connector.resolve(spec, namespace, require_ready=require_ready)

    def pod_secret(self, connection: Connection, namespace: str) -> SecretKeyRef | None:
        backend = self.backends[CronJobBackend.name]
        assert isinstance(backend, CronJobBackend)
        return backend.pod_secret(connection, namespace)

    def _use_kube(self, kube: KubeApi | None) -> None:
        self.parts.kube = self.connector.kube = kube

    async def aclose(self) -> None:
        await self.connector.aclose()

    # ------------------------------------------------------------ memory

    def mark_pristine(self, uid: str) -> None:
        self.memory.mark_pristine(uid)

    def forget(self, uid: str) -> None:
        """The object is gone: drop what this process remembers of it."""
        self.memory.forget(uid)
        self.managed.forget(uid)

    def keep_only(self, live_uids: Collection[str]) -> None:
        self.memory.keep_only(live_uids)

    def invalidate_server(self, key: ServerKey) -> None:
        """A server object changed: the next pass looks at its crons in full."""
        self.memory.drop_fingerprints_via(key)

    async def resync(self, bodies: Iterable[Mapping[str, Any]]) -> tuple[list[tuple[CronObject, Result]], list[CronObject]]:
        """One drift check of many objects (engine/resync.py)."""
        return await self.resyncer.check(bodies)

    # ------------------------------------------------------------ reconcile

    async def reconcile(self, obj: CronObject, *, attempt: int = 0, write_status: StatusWriter | None = None) -> Result:
        backend = str(obj.raw_spec.get("backend") or DEFAULT_BACKEND)
        started = time.perf_counter()
        result = await self._reconcile(obj, attempt=attempt, write_status=write_status)
        ready = result.status.condition("Ready")
        outcome = "ready" if ready and ready.status == "True" else "stalled" if result.done else "retrying"
        metrics.RECONCILE_SECONDS.labels(backend).observe(time.perf_counter() - started)
        metrics.RECONCILES.labels(backend, outcome).inc()
        if obj.identity.uid:
            self.managed.update(obj.identity.uid, backend, outcome == "ready")
        return result

    async def _reconcile(self, obj: CronObject, *, attempt: int, write_status: StatusWriter | None) -> Result:
        now = self.clock()
        events: list[EventRecord] = []
        # Whatever happens below may leave other crons behind (a failed delete, a lost create
        # response): only a completed ensure says again which cron is the only one.
        self.memory.drop_sole_cron(obj.identity.uid)
        # Newer than the body when a status write has not come back through the watch yet.
        previous = self.memory.history_base(obj.identity.uid, obj.status)
        work: Work | None = None
        await self.connector.look_up_unseen(obj)
        try:
            spec = parse_effective(obj.raw_spec, obj.identity.namespace, obj.identity.name)
            target = self.connector.resolve(spec, obj.identity.namespace)
            work = Work(obj=obj, spec=spec, target=target, now=now, events=events, write_status=write_status)
            backend = self.backends[spec.backend]
            for other in self.backends.others(backend):  # never two backends live: the old one goes first
                await other.retire(work)
            observed = await backend.observe(work, previous)
            work.control = runcontrol.apply_controls(spec, observed, generation=obj.generation,
                                                     annotations=obj.annotations, now=now)
            events.extend(work.control.events)
            metrics.PAUSED.labels(obj.identity.namespace, obj.identity.name).set(1 if work.control.status.paused else 0)
            applied = await backend.ensure(work)
            await self._handle_trigger(backend, work, applied)
        except EXPECTED_FAILURES as exc:
            return self._failure(obj, exc, attempt, now, events, create_sent=work is not None and work.create_sent)
        status = applied.status
        self.memory.remember_history(obj.identity.uid, status)
        outcome = work.control.stopped or Outcome.ready(spec, now)
        previous_ready = obj.status.condition("Ready")
        if outcome.reason not in QUIET_REASONS and (previous_ready is None or previous_ready.reason != outcome.reason):
            events.append(EventRecord("Normal", outcome.reason, outcome.message))
        return Result(status=status, events=events)

    async def _handle_trigger(self, backend: Any, work: Work, applied: Any) -> None:
        """Start one run for a new lgcron.io/trigger value (or say why not), and record the value."""
        value = runcontrol.pending_trigger(work.obj.annotations, applied.status)
        if value is None:
            return
        assert work.control is not None
        refusal = runcontrol.trigger_refusal(work.spec, work.control.stopped, work.now)
        if refusal is not None:
            applied.status.last_trigger = TriggerState(value=value, time=format_time(work.now), refused=refusal)
            work.events.append(EventRecord("Warning", "TriggerRefused",
                                           f"{runcontrol.TRIGGER_ANNOTATION}={value!r}: no run: {refusal}"))
            return
        state, message = await backend.trigger(work, applied, value)
        work.events.append(EventRecord("Normal", "Triggered", f"{runcontrol.TRIGGER_ANNOTATION}={value!r}: {message}"))
        applied.status.last_trigger = state

    def _failure(self, obj: CronObject, exc: Exception, attempt: int, now: datetime, events: list[EventRecord], *,
                 doing: str = "", advice: str = "", max_delay: float = MAX_RETRY_SECONDS,
                 create_sent: bool = False) -> Result:
        reason = getattr(exc, "reason", "Error")
        message = f"{doing}{exc}{advice}"
        if isinstance(exc, ServerNotChecked):
            outcome = Outcome(reason, message, "retrying")
            retry_after: float | None = min(backoff_delay(attempt), SERVER_CHECK_RETRY_SECONDS)
        elif isinstance(exc, (InvalidSpec, Rejected)) or getattr(exc, "permanent", False):
            outcome, retry_after = Outcome(reason, message, "stalled"), None
        elif isinstance(exc, ServerUnavailable):
            outcome, retry_after = Outcome(reason, message, "retrying"), backoff_delay(attempt, exc.retry_after, cap=max_delay)
        else:
            outcome = Outcome(reason, message, "retrying")
            delay = backoff_delay(attempt, getattr(exc, "retry_after", None), cap=max_delay)
            retry_after = max(SLOW_RETRY_SECONDS, delay)
        previous = obj.status.condition("Ready")
        if previous is None or (previous.reason, previous.message) != (reason, message):
            events.append(EventRecord("Warning", reason, message))
        logger.warning("%s/%s: %s: %s", obj.identity.namespace, obj.identity.name, reason, message)
        status = build_status(self.memory.history_base(obj.identity.uid, obj.status), outcome=outcome,
                              generation=obj.generation, now=now)
        status.create_sent = self._create_sent(obj, create_sent)
        if outcome.kind == "stalled" and (value := runcontrol.pending_trigger(obj.annotations, status)) is not None:
            # A cron that cannot be in place cannot run either: say so once, and never run that value later.
            status.last_trigger = TriggerState(value=value, time=format_time(now), refused=f"{reason}: {message}")
            events.append(EventRecord("Warning", "TriggerRefused",
                                      f"{runcontrol.TRIGGER_ANNOTATION}={value!r}: no run: {reason}: {message}"))
        return Result(status=status, events=events, retry_after=retry_after, done=outcome.kind == "stalled")

    def _create_sent(self, obj: CronObject, sent_now: bool) -> bool | None:
        """The write-ahead record after a failed reconcile: False only while it is known that no create
        request was ever sent (this process saw the object first and sent none, or the record said so)."""
        if sent_now:
            return True
        if obj.status.create_sent is None and not obj.status.cron_id and self.memory.is_pristine(obj.identity.uid):
            return False
        return obj.status.create_sent

    # ------------------------------------------------------------ delete

    async def finalize(self, obj: CronObject, *, attempt: int = 0) -> Result:
        """Delete every cron and CronJob of this object (Orphan: leave them). done=False until gone."""
        now = self.clock()
        events: list[EventRecord] = []
        orphan = obj.raw_spec.get("deletionPolicy") == "Orphan"
        await self.connector.look_up_unseen(obj)  # a deletion on a restart needs its server's key
        try:
            for backend in self.backends:
                held = await backend.delete(obj, events, orphan=orphan)
                if held is not None:
                    return held
        except EXPECTED_FAILURES as exc:
            # A held deletion blocks `kubectl delete` and whole namespaces: once the server is back
            # it must finish within a minute, not after a backoff grown over a long outage.
            result = self._failure(obj, exc, attempt, now, events, doing="cannot delete the cron yet: ",
                                   advice=_release_advice(obj), max_delay=SLOW_RETRY_SECONDS)
            result.done = False
            return result
        return Result(status=obj.status, events=events)


def _release_advice(obj: CronObject) -> str:
    """How a person releases a deletion held by a server that refuses or cannot be reached."""
    where = str(obj.status.server_ref) if obj.status.server_ref else (obj.status.server_url or "its server")
    return (f". The resource is held until its cron is deleted: fix the URL or API key of {where}, or set "
            "spec.deletionPolicy: Orphan to release it and leave the cron on the server "
            "(then remove it with `lgcron audit --delete`)")
