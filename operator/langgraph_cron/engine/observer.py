"""The agentServer backend's run history pass: which crons may have run, and what their runs did.

Part of the batched resync pass (handlers._resync_pass). A cron is looked at only when a run may
have happened since the last look: its status.nextRunDate has passed, or a run was still going.
All due stateless crons of one server share one paged `POST /threads/search` (this cluster's
threads; one cron alone: its own); a due thread cron costs one `GET /threads/{id}/runs`. So a pass
where no cron's run time came makes no request for history at all, and one where M crons came
makes ceil(threads/1000) + (thread crons among them) requests, plus a DELETE per pruned thread.

The fold itself (counting once, status, Events, what to prune) is `history.fold`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from langgraph_cron.clients import metrics
from langgraph_cron.clients.agent_server import AgentServerClient, AgentServerError
from langgraph_cron.clients.kube import SecretNotFound
from langgraph_cron.core import history, runcontrol
from langgraph_cron.core.connections import Connection
from langgraph_cron.core.models import LangGraphCronSpec, parse_time
from langgraph_cron.core.objects import CronObject
from langgraph_cron.core.schedule import upcoming_runs
from langgraph_cron.core.spec import (
    CLUSTER_KEY,
    UID_KEY,
    InvalidSpec,
    parse_effective,
)
from langgraph_cron.engine.memory import UNSET
from langgraph_cron.engine.service import CronService

logger = logging.getLogger(__name__)

# Threads per page of POST /threads/search.
THREAD_PAGE = 1000
# Only what the fold reads: a thread's `values` can be as large as the graph's whole state. The
# server does not let a search select `error` (measured: 422), so a newly failed run's error line
# costs one GET of its thread: a request per failure, not per cron.
THREAD_FIELDS = ["thread_id", "status", "metadata", "created_at", "updated_at"]
# A thread cron's runs read per look (newest first): more than run between two looks.
THREAD_CRON_RUNS = 50
# A run may be stamped a little before its scheduled time (clocks, the scheduler's poll).
SKEW = timedelta(seconds=5)


@dataclass
class Observation:
    """One cron after a look: the status to write, its Events, what was newly counted, missed ticks."""

    obj: CronObject
    update: history.HistoryUpdate
    missed: int = 0
    # It has just been paused or run out of budget: its backend must be disabled (a reconcile).
    requeue: bool = False


@dataclass
class _Candidate:
    obj: CronObject
    spec: LangGraphCronSpec
    connection: Connection
    due: datetime | None


class RunObserver:
    def __init__(self, service: CronService, *, grace: float = 120.0) -> None:
        self.service = service
        self.grace = timedelta(seconds=grace)
        # Per cron (engine/memory.py): the scheduled run time to look for next (UNSET: take it from
        # status.nextRunDate), the spec and connection parsed for it, and the generation last seen.
        self.memory = service.memory
        self.requests_last_pass = 0

    def _candidate(self, body: Mapping[str, Any], now: datetime) -> _Candidate | None:
        meta, status = body["metadata"], body.get("status") or {}
        backend = self.service.backends.get(status.get("backend"))
        if backend is None or not backend.history_in_passes or not status.get("cronId"):
            return None
        uid, version, generation = meta["uid"], meta.get("resourceVersion"), meta.get("generation")
        memory = self.memory.of(uid)
        if memory.generation is not None and memory.generation != generation:
            memory.due = UNSET  # a new spec (re-enabled, new schedule): its status says when
        memory.generation = generation
        # Decided from status and memory alone: a pass over crons whose time has not come parses nothing.
        active = bool(status.get("activeRuns"))
        if memory.due is not UNSET:
            due = memory.due
            if due is None and not active:
                return None  # suspended or expired, and looked at since: no run is expected
        elif status.get("nextRunDate"):
            due = parse_time(status["nextRunDate"])  # no run time since the status was written: no look
        else:
            due = None  # suspended or expired: runs may have come before, unseen by this process; look once
        if not active and due is not None and now < due:
            return None  # no run time has come since the last look, and none is going
        cached = memory.observed_spec
        if cached is None or cached[0] != version:
            try:
                spec = parse_effective(dict(body.get("spec") or {}), meta["namespace"], meta["name"])
                connection = self.service.connector.resolve(spec, meta["namespace"])
            except InvalidSpec:
                return None
            cached = memory.observed_spec = (version, spec, connection)
        _, spec, connection = cached
        if history.unavailable_reason(spec) is not None:
            memory.due = None  # nothing to look at until the spec changes
            return None
        return _Candidate(CronObject.from_body(body, cluster=self.service.settings.cluster_id), spec, connection, due)

    async def observe(self, bodies: Iterable[Mapping[str, Any]]) -> list[Observation]:
        now = self.service.clock()
        self.requests_last_pass = 0
        stateless: dict[AgentServerClient, list[_Candidate]] = {}
        thread_crons: list[tuple[AgentServerClient, _Candidate]] = []
        for body in bodies:
            candidate = self._candidate(body, now)
            if candidate is None:
                continue
            try:
                client = await self.service.connector.client_for(candidate.connection)
            except (SecretNotFound, InvalidSpec):
                continue  # its own reconcile says why
            if candidate.spec.thread_id:
                thread_crons.append((client, candidate))
            else:
                stateless.setdefault(client, []).append(candidate)
        observations: list[Observation] = []
        for client, candidates in stateless.items():
            try:
                threads = await self._threads(client, candidates)
            except AgentServerError as exc:
                logger.warning("run history: cannot search the threads of %s: %s", client, exc)
                continue
            found = history.runs_from_threads(threads, secrets=client.secret_values)
            for candidate in candidates:
                runs = found.get(candidate.obj.identity.uid or "", [])
                observations.append(await self._fold(client, candidate, runs, now, prune=True))
        for client, candidate in thread_crons:
            try:
                self.requests_last_pass += 1
                raw = await client.thread_runs_raw(candidate.spec.thread_id or "", limit=THREAD_CRON_RUNS)
            except AgentServerError as exc:
                logger.warning("run history: cannot read the runs of thread %s: %s", candidate.spec.thread_id, exc)
                continue
            runs = history.runs_from_thread_runs(raw, candidate.obj.identity.uid or "")
            observations.append(await self._fold(client, candidate, runs, now, prune=False))
        return observations

    async def _threads(self, client: AgentServerClient, candidates: list[_Candidate]) -> list[dict[str, Any]]:
        if len(candidates) == 1:
            metadata = {UID_KEY: candidates[0].obj.identity.uid}
        else:
            metadata = {CLUSTER_KEY: self.service.settings.cluster_id}
        threads: list[dict[str, Any]] = []
        while True:
            self.requests_last_pass += 1
            page = await client.search_threads_raw(metadata=metadata, limit=THREAD_PAGE, offset=len(threads),
                                                   select=THREAD_FIELDS)
            threads.extend(page)
            if len(page) < THREAD_PAGE:
                return threads

    async def _fold(self, client: AgentServerClient, candidate: _Candidate, runs: list[history.ObservedRun],
                    now: datetime, *, prune: bool) -> Observation:
        obj, spec = candidate.obj, candidate.spec
        base = self.memory.history_base(obj.identity.uid, obj.status)
        timed_out = []
        if spec.run_timeout_seconds is not None:
            deadline = timedelta(seconds=spec.run_timeout_seconds)
            for run in runs:
                if run.result == "Running" and now - run.start > deadline and await self._cancel(client, run):
                    timed_out.append(run.key)
        if prune:  # stateless: the error of each newly failed run is on its thread
            failed = {r.key for r in history.uncounted(base, runs) if r.failed and r.thread_id}
            runs = [await self._with_error(client, r) if r.key in failed else r for r in runs]
        update = history.fold(base, runs, now=now, limits=spec.history if prune else None,
                              generation=obj.generation, timed_out=timed_out)
        control = runcontrol.apply_controls(spec, update.status, generation=obj.generation,
                                            annotations=obj.annotations, now=now)
        update.status = control.status
        update.events.extend(control.events)
        metrics.PAUSED.labels(obj.identity.namespace, obj.identity.name).set(1 if control.status.paused else 0)
        self.memory.remember_history(obj.identity.uid, update.status)
        for run in update.prune:
            if run.thread_id is None or run.thread_id == spec.thread_id:
                continue  # never a thread cron's thread, nor anything not made for a run of this cron
            try:
                self.requests_last_pass += 1
                await client.delete_thread(run.thread_id, missing_ok=True)
            except AgentServerError as exc:
                logger.warning("run history: cannot prune thread %s: %s", run.thread_id, exc)
        missed = self._advance(candidate, runs, update, now)
        namespace, name = obj.identity.namespace, obj.identity.name
        status = update.status
        metrics.record_runs(namespace, name, update.counted, status.runs.consecutive_failures if status.runs else 0)
        if missed:
            metrics.MISSED_RUNS.labels(namespace, name).inc(missed)
        return Observation(obj, update, missed=missed, requeue=control.newly_stopped)

    async def _cancel(self, client: AgentServerClient, run: history.ObservedRun) -> bool:
        """Cancel a run past spec.runTimeoutSeconds (a stateless run's id is read from its thread)."""
        try:
            run_id = run.run_id
            if run_id is None:
                self.requests_last_pass += 1
                active = [r for r in await client.thread_runs_raw(run.thread_id or "", limit=5)
                          if r.get("status") in ("pending", "running")]
                if not active:
                    return False  # it ended meanwhile: what it did stands
                run_id = str(active[0]["run_id"])
            self.requests_last_pass += 1
            await client.cancel_run(run.thread_id or "", run_id)
        except AgentServerError as exc:
            logger.warning("run deadline: cannot cancel the run on thread %s: %s", run.thread_id, exc)
            return False
        return True

    async def _with_error(self, client: AgentServerClient, run: history.ObservedRun) -> history.ObservedRun:
        try:
            self.requests_last_pass += 1
            thread = await client.get_thread_raw(run.thread_id or "")
        except AgentServerError as exc:
            logger.warning("run history: cannot read thread %s: %s", run.thread_id, exc)
            return run
        return history.with_error(run, thread, secrets=client.secret_values)

    def _advance(self, candidate: _Candidate, runs: list[history.ObservedRun], update: history.HistoryUpdate,
                 now: datetime) -> int:
        """Move the cron's due time on; 1 when its awaited run time passed the grace with no run."""
        memory = self.memory.of(candidate.obj.identity.uid or "")
        spec, due = candidate.spec, candidate.due
        active = spec.enabled and not spec.is_expired(now)
        upcoming = upcoming_runs(spec.schedule, spec.timezone, now, count=1) if active else []
        following = upcoming[0] if upcoming else None
        if due is None:
            memory.due = following
            return 0
        last_start = update.status.last_schedule_time
        happened = any(r.start >= due - SKEW for r in runs) or (
            last_start is not None and parse_time(last_start) >= due - SKEW)
        if happened:
            memory.due = following
            return 0
        if now >= due + self.grace:
            memory.due = following
            return 1 if active else 0
        memory.due = due  # not yet: look again next pass
        return 0
