"""The agentServer backend: a cron record on a LangGraph Agent Server.

Create, adopt and deduplicate by the lgcron.io/uid tag (never two crons, never a lost one), patch in
place or replace (create first, then delete), move between servers (create on the new one, then
delete from the old), trigger one run now, and delete on the way out. The plan (which of these) is
core/plan.py; the key and CA come through the connector.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from langgraph_cron.clients.agent_server import (
    AgentServerClient,
    AgentServerError,
    Cron,
    CronNotFound,
)
from langgraph_cron.clients.kube import KubernetesApiError, SecretNotFound
from langgraph_cron.core import history, runcontrol
from langgraph_cron.core.connections import Connection
from langgraph_cron.core.cronjob import run_request
from langgraph_cron.core.models import (
    ActiveRun,
    LangGraphCronSpec,
    TriggerState,
    format_time,
)
from langgraph_cron.core.objects import CronObject, Result
from langgraph_cron.core.plan import Plan, desired_cron, observed_cron, plan_update
from langgraph_cron.core.spec import RELEASED_KEY, UID_KEY, InvalidSpec, parse_spec
from langgraph_cron.core.status import EventRecord, Outcome, build_status
from langgraph_cron.engine.backends import Applied, Backend, StatusWriter, Work
from langgraph_cron.engine.parts import Parts

logger = logging.getLogger(__name__)


async def _write_early(write_status: StatusWriter | None, patch: dict[str, Any]) -> None:
    """status.cronId the moment a cron exists, not at the end of the handler. Best effort: the final
    status write carries it too, and the uid search covers a crash in between."""
    if write_status is None:
        return
    try:
        await write_status(patch)
    except KubernetesApiError as exc:
        logger.warning("early status write failed: %s", exc)


class AgentServerBackend(Backend):
    name: ClassVar[str] = "agentServer"
    batched_resync = True
    history_in_passes = True

    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        self.connector = parts.connector
        self.memory = parts.memory

    # ------------------------------------------------------------ ensure

    async def ensure(self, work: Work) -> Applied:
        obj, spec, target, now = work.obj, work.backend_spec, work.target, work.now
        url = target.url
        client = await self.connector.client_for(target)
        moved_from = obj.status.server_url if obj.status.server_url not in (None, url) else None
        # Create on the new server first, then delete from the old: never a moment without a cron, and
        # status keeps naming the old one until it is gone (a crash retries both).
        cron = await self._ensure(client, work, moved_from=moved_from)
        if moved_from is not None:
            # `keep`: two URLs of one server (an alias) show the same cron on both.
            await self._delete_from(obj, work.spec, moved_from, work.events, why=f"it moved to {url}", keep=cron.cron_id)
        self.memory.remember_sole_cron(obj.identity.uid, url, cron.cron_id)
        assert work.control is not None
        status = build_status(
            work.control.status, outcome=work.control.stopped or Outcome.ready(work.spec, now),
            generation=obj.generation, now=now, spec=spec, cron=cron, server_url=url,
            server_ref=target.via.ref if target.via else None,
        )
        status.create_sent = True  # a cron exists: its deletion must reach the server
        status.conditions = history.with_condition(
            status.conditions, history.availability_condition(work.spec, status, obj.generation), now)
        return Applied(status=status, handle=client)

    async def _ensure(self, client: AgentServerClient, work: Work, *, moved_from: str | None) -> Cron:
        obj, spec, now, events, url = work.obj, work.backend_spec, work.now, work.events, work.target.url
        desired = desired_cron(spec, obj.identity, now, forward_end_time=self.parts.settings.forward_end_time,
                               history_pruned=self.parts.prunes_history)
        # No early status write while moving: status must name the old server until its cron is gone.
        write_status = None if moved_from is not None else work.write_status
        # Search by uid rather than trusting status.cronId: it finds a cron created just before a
        # crash (adopt, never duplicate) and any duplicates, for the same one request a GET costs.
        if not obj.status.cron_id and self.memory.take_pristine(obj.identity.uid):
            matches = []  # the mark is gone before the create: a retry searches
        else:
            matches = await self._owned_crons(client, obj)
        if not matches:
            cron = await self._create(client, work, desired)
            if moved_from is not None:
                events.append(EventRecord("Normal", "Moved", f"created cron {cron.cron_id} on {url} (moving from {moved_from})"))
            elif obj.status.cron_id:
                events.append(EventRecord("Warning", "Recreated", f"cron {obj.status.cron_id} was missing on the server; created {cron.cron_id}"))
            else:
                events.append(EventRecord("Normal", "Created", f"created cron {cron.cron_id}"))
            # No early status write here: no remote call follows, so the caller's status write comes at
            # once (an extra write would cost a watch event per object). A crash before it is covered by
            # the uid search above, which adopts the cron next time.
            return cron

        current = next((c for c in matches if c.cron_id == obj.status.cron_id), None)
        if current is None:
            current = min(matches, key=lambda c: (c.created_at or now, c.cron_id))
            events.append(EventRecord("Normal", "Adopted", f"adopted existing cron {current.cron_id}"))
            await _write_early(write_status, {"cronId": current.cron_id, "serverUrl": url})
        for duplicate in matches:
            if duplicate.cron_id != current.cron_id:
                await self._delete_one(client, duplicate.cron_id)
                events.append(EventRecord("Warning", "DuplicateDeleted", f"deleted duplicate cron {duplicate.cron_id}"))

        plan = plan_update(desired, observed_cron(current), thread_id=spec.thread_id)
        if plan.action == "patch" and "end_time" in plan.patch and plan.patch["end_time"] is None:
            features = await client.features()  # before langgraph-api 0.12, end_time cannot be cleared
            if not features.has("clear_end_time"):
                why = f"spec.endTime was removed and langgraph-api {features.version} cannot unset it"
                plan = Plan("replace", reasons=(why,))
        if plan.action == "patch":
            cron = await client.patch(current.cron_id, plan.patch)
            events.append(EventRecord("Normal", "Updated", f"updated cron {cron.cron_id}: {', '.join(plan.reasons)}"))
            return cron
        if plan.action == "replace":
            # Create first: a failure in between leaves two crons (deduplicated next time), never zero.
            cron = await self._create(client, work, desired)
            await _write_early(write_status, {"cronId": cron.cron_id, "serverUrl": url})
            await self._delete_one(client, current.cron_id)
            events.append(
                EventRecord("Normal", "Replaced", f"replaced cron {current.cron_id} with {cron.cron_id}: {'; '.join(plan.reasons)}")
            )
            return cron
        return current

    async def _create(self, client: AgentServerClient, work: Work, desired: dict[str, Any]) -> Cron:
        """Send a create, after the write-ahead record says one may have been sent."""
        if work.obj.status.create_sent is False and not work.create_sent and work.write_status is not None:
            # The status says no create was ever sent: it must stop saying so before one is (file mode
            # keeps no status, so it has nothing to write ahead).
            await work.write_status({"createSent": True})
        work.create_sent = True
        spec = work.backend_spec
        if spec.thread_id:
            return await client.create_for_thread(spec.thread_id, desired)
        return await client.create(desired)

    @staticmethod
    async def _delete_one(client: AgentServerClient, cron_id: str) -> None:
        try:
            await client.delete(cron_id)
        except CronNotFound:
            pass  # already gone is what we wanted

    @staticmethod
    async def _owned_crons(client: AgentServerClient, obj: CronObject) -> list[Cron]:
        found = await client.search_all(metadata=obj.identity.search_filter)
        return [cron for cron in found if obj.identity.owns(cron.metadata)]

    # ------------------------------------------------------------ trigger

    async def trigger(self, work: Work, applied: Applied, value: str) -> tuple[TriggerState, str]:
        """One run now, with the cron's payload, assistant and thread. Exactly once per value: a retry
        after a crash finds the run it made (by a thread id derived from the value, or on a thread
        cron's thread by the run's metadata) instead of making another."""
        client: AgentServerClient = applied.handle
        obj, spec, now = work.obj, work.spec, work.now
        tags = {**obj.identity.metadata(), runcontrol.TRIGGER_KEY: value}
        body = runcontrol.run_body(run_request(spec, obj.identity, now), tags)
        if spec.thread_id:
            thread_id = spec.thread_id
        else:
            thread_id = runcontrol.trigger_thread_id(obj.identity.uid or f"{obj.identity.namespace}/{obj.identity.name}",
                                                     value)
            await client.create_thread(thread_id, metadata=tags)
            body.pop("multitask_strategy", None)  # a fresh thread of its own: nothing to queue behind
        state = None
        for raw in await client.thread_runs_raw(thread_id, limit=100):
            metadata = raw.get("metadata") or {}
            if metadata.get(runcontrol.TRIGGER_KEY) == value and metadata.get(UID_KEY) == obj.identity.uid:
                state = TriggerState(value=value, time=format_time(now), run_id=str(raw["run_id"]), thread_id=thread_id)
                break
        if state is None:
            run = await client.create_run(thread_id, body)
            state = TriggerState(value=value, time=format_time(now), run_id=run.run_id, thread_id=run.thread_id)
        # A run is going: the run history looks at this cron from the next pass on, as for any run.
        applied.status.active_runs = [*(applied.status.active_runs or []),
                                      ActiveRun(run_id=state.run_id, thread_id=state.thread_id, start_time=state.time)]
        return state, f"started run {state.run_id} on thread {state.thread_id}"

    # ------------------------------------------------------------ another backend took over

    async def retire(self, work: Work) -> None:
        """Delete server crons left from this backend (searched unless known to be none)."""
        obj, events = work.obj, work.events
        if not obj.status.cron_id and (obj.status.backend not in (None, self.name) or self._never_sent_a_create(obj)):
            return  # no cron id, and no create can have been sent (write-ahead): nothing to search for
        why = f"the backend is now {work.spec.backend}"
        if obj.status.server_url:
            await self._delete_from(obj, work.spec, obj.status.server_url, events, why=why)
        if work.target.url != obj.status.server_url:
            await self._delete_with(work.target, obj, events, why=why)

    # ------------------------------------------------------------ delete

    async def delete(self, obj: CronObject, events: list[EventRecord], *, orphan: bool) -> Result | None:
        if orphan:
            if obj.status.cron_id:
                await self._mark_released(obj)
                events.append(EventRecord("Normal", "Orphaned", f"left cron {obj.status.cron_id} on the server"))
            return None
        if not self._may_have_server_crons(obj):
            return None
        spec, target = self._deletion_target(obj)
        url = target.url if target else obj.status.server_url
        if url is None:
            return None
        where = target if target is not None and target.url == url else self._bound(obj, url, spec)
        if (sole := self._known_sole_cron(obj, url)) is not None and self.connector.may_call(where):
            # Created, adopted or checked by this process, with duplicates removed: one DELETE.
            client = await self.connector.client_for(where, allow_last_known=True)
            await self._delete_one(client, sole)
            events.append(EventRecord("Normal", "Deleted", f"deleted cron {sole} (the resource was deleted)"))
            return None
        if obj.status.server_url:
            await self._delete_from(obj, spec, obj.status.server_url, events, why="the resource was deleted")
        if target is not None and target.url != obj.status.server_url:
            # A cron made just before a crash, before status named it.
            await self._delete_with(target, obj, events, why="the resource was deleted")
        return None

    def _may_have_server_crons(self, obj: CronObject) -> bool:
        """Whether a create request can ever have been sent for this object (write-ahead state)."""
        if obj.status.cron_id:
            return True
        if self._never_sent_a_create(obj):
            return False  # nothing can be on any server
        if obj.status.backend not in (None, self.name) or (
                obj.status.backend is None and obj.raw_spec.get("backend") not in (None, self.name)):
            return False
        try:
            parse_spec(obj.raw_spec)
        except InvalidSpec:
            # A spec that never validated never made a cron, unless an earlier valid one did (cronId).
            return False
        return True

    def _never_sent_a_create(self, obj: CronObject) -> bool:
        """The write-ahead record (status.createSent) or this process's first sight says no create
        request was ever sent for this object."""
        return obj.status.create_sent is False or self.memory.is_pristine(obj.identity.uid)

    def _deletion_target(self, obj: CronObject) -> tuple[LangGraphCronSpec | None, Connection | None]:
        return self.connector.deletion_target(obj.raw_spec, obj.identity.namespace)

    def _known_sole_cron(self, obj: CronObject, url: str) -> str | None:
        """The cron id when this process knows it is the object's only cron, on `url`, and the
        status agrees (a status written by anyone else since would not)."""
        known = self.memory.sole_cron(obj.identity.uid)
        if known is None or known != (url, obj.status.cron_id) or obj.status.server_url not in (None, url):
            return None
        return known[1]

    async def _mark_released(self, obj: CronObject) -> None:
        """Tag a cron left behind on purpose, so `lgcron audit` and the GC never count it as an orphan.

        Best effort: Orphan promises not to block on the server, so a failure is only logged.
        """
        url = obj.status.server_url or self.parts.settings.server_url
        if url is None or obj.status.cron_id is None:
            return
        try:
            connection = self._bound(obj, url, self._deletion_target(obj)[0])
            if not self.connector.may_call(connection):
                return
            client = await self.connector.client_for(connection, allow_last_known=True)
            await client.patch(obj.status.cron_id, {"metadata": {RELEASED_KEY: "true"}})
        except (InvalidSpec, SecretNotFound, AgentServerError) as exc:
            logger.warning("%s/%s: could not tag cron %s as released: %s", obj.identity.namespace, obj.identity.name,
                           obj.status.cron_id, exc)

    def _bound(self, obj: CronObject, url: str, spec: LangGraphCronSpec | None) -> Connection:
        return self.connector.bound(url, obj.status.server_ref, obj.identity.namespace, spec)

    async def _delete_from(self, obj: CronObject, spec: LangGraphCronSpec | None, url: str,
                           events: list[EventRecord], *, why: str, keep: str | None = None) -> None:
        """Delete the object's crons on a URL it used before, with the key bound to that URL (maybe
        none): never the key of the URL the spec names now."""
        await self._delete_with(self._bound(obj, url, spec), obj, events, why=why, keep=keep)

    async def _delete_with(self, connection: Connection, obj: CronObject, events: list[EventRecord], *,
                           why: str, keep: str | None = None) -> None:
        """Delete the object's crons on one connection. A URL not allowed gets no request at all."""
        if not self.connector.may_call(connection):
            events.append(EventRecord("Warning", "ServerNotAllowed",
                                      f"did not delete cron {obj.status.cron_id or '(unknown)'} ({why}): its server "
                                      "is not in LGCRON_ALLOWED_SERVER_URLS, so no request was sent there"))
            return
        client = await self.connector.client_for(connection, allow_last_known=True)
        ids = [c.cron_id for c in await self._owned_crons(client, obj)]
        if obj.status.cron_id and obj.status.cron_id not in ids:
            ids.append(obj.status.cron_id)
        for cron_id in ids:
            if cron_id == keep:
                continue
            await self._delete_one(client, cron_id)
            events.append(EventRecord("Normal", "Deleted", f"deleted cron {cron_id} ({why})"))
