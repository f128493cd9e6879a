"""The reconcile service: the I/O around the pure decisions in `reconcile.py`.

Called by the kopf handlers (and by the file-mode CLI), it takes a parsed object, talks to the
Agent Server through `AgentServerClient`, and returns the status to write, the Events to post,
and when to retry. It never raises for expected failures: every failure is an `Outcome`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import httpx

from langgraph_cron.agent_server import (
    AgentServerClient,
    AgentServerError,
    Cron,
    CronNotFound,
    Rejected,
    ServerUnavailable,
    backoff_delay,
)
from langgraph_cron.kube import SecretNotFound
from langgraph_cron.models import LangGraphCronSpec, LangGraphCronStatus, ServerRef
from langgraph_cron.reconcile import (
    Identity,
    InvalidSpec,
    Outcome,
    build_status,
    desired_cron,
    observed_cron,
    parse_spec,
    plan_update,
)
from langgraph_cron.settings import Settings

logger = logging.getLogger(__name__)

# Errors a person has to fix elsewhere (a Secret, an assistant deployment, a key) are retried
# slowly: hammering the server will not fix them, but they must heal by themselves once fixed.
SLOW_RETRY_SECONDS = 60.0


class SecretReader(Protocol):
    async def read_secret_value(self, namespace: str, name: str, key: str) -> str: ...


@dataclass(frozen=True)
class CronObject:
    """A LangGraphCron as the service needs it: identity, raw spec (validated later), status."""

    identity: Identity
    generation: int | None
    raw_spec: dict[str, Any]
    status: LangGraphCronStatus

    @classmethod
    def from_body(cls, body: Any) -> CronObject:
        meta = body["metadata"]
        return cls(
            identity=Identity(uid=meta["uid"], namespace=meta["namespace"], name=meta["name"]),
            generation=meta.get("generation"),
            raw_spec=dict(body.get("spec") or {}),
            status=LangGraphCronStatus.model_validate(dict(body.get("status") or {})),
        )


@dataclass(frozen=True)
class EventRecord:
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass
class Result:
    status: LangGraphCronStatus
    events: list[EventRecord] = field(default_factory=list)
    # Seconds until the next attempt; None when done (or waiting for a spec change).
    retry_after: float | None = None
    done: bool = True


CronIdCallback = Callable[[str, str], Awaitable[None]]


class CronService:
    def __init__(
        self,
        settings: Settings,
        http: httpx.AsyncClient,
        secrets: SecretReader,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.http = http
        self.secrets = secrets
        self.clock = clock
        # Last key read per Secret: lets a deletion finish after its namespace's Secret is gone.
        self._last_known_keys: dict[tuple[str, str, str], str] = {}

    # ------------------------------------------------------------ connection

    def server_url(self, server: ServerRef | None) -> str | None:
        return (server.url if server and server.url else None) or self.settings.server_url

    async def api_key(self, namespace: str, server: ServerRef | None, *, allow_last_known: bool = False) -> str | None:
        ref = server.api_key_secret_ref if server else None
        if ref is None:
            return self.settings.api_key.get_secret_value() if self.settings.api_key else None
        cache_key = (namespace, ref.name, ref.key)
        try:
            value = await self.secrets.read_secret_value(namespace, ref.name, ref.key)
        except SecretNotFound:
            if allow_last_known and cache_key in self._last_known_keys:
                return self._last_known_keys[cache_key]
            raise
        self._last_known_keys[cache_key] = value
        return value

    def client(self, url: str, api_key: str | None) -> AgentServerClient:
        return AgentServerClient(self.http, url, api_key)

    # ------------------------------------------------------------ reconcile

    async def reconcile(self, obj: CronObject, *, attempt: int = 0, on_cron_id: CronIdCallback | None = None) -> Result:
        now = self.clock()
        events: list[EventRecord] = []
        try:
            spec = parse_spec(obj.raw_spec)
            url = self.server_url(spec.server)
            if url is None:
                raise InvalidSpec("spec.server.url: not set, and the operator has no default (LGCRON_SERVER_URL)")
            key = await self.api_key(obj.identity.namespace, spec.server)
            client = self.client(url, key)
            if obj.status.cron_id and obj.status.server_url and obj.status.server_url != url:
                await self._delete_all(self.client(obj.status.server_url, key), obj, events, why="the server URL changed")
            cron = await self._ensure(client, spec, obj, now, events, url, on_cron_id)
        except (InvalidSpec, SecretNotFound, AgentServerError) as exc:
            return self._failure(obj, exc, attempt, now, events)
        outcome = Outcome.ready(spec, now)
        status = build_status(
            obj.status, outcome=outcome, generation=obj.generation, now=now, spec=spec, cron=cron, server_url=url
        )
        previous_ready = obj.status.condition("Ready")
        if outcome.reason != "Scheduled" and (previous_ready is None or previous_ready.reason != outcome.reason):
            events.append(EventRecord("Normal", outcome.reason, outcome.message))
        return Result(status=status, events=events)

    async def _ensure(
        self,
        client: AgentServerClient,
        spec: LangGraphCronSpec,
        obj: CronObject,
        now: datetime,
        events: list[EventRecord],
        url: str,
        on_cron_id: CronIdCallback | None,
    ) -> Cron:
        desired = desired_cron(spec, obj.identity, now, forward_end_time=self.settings.forward_end_time)
        # Search by uid rather than trusting status.cronId: it finds a cron created just before a
        # crash (adopt, never duplicate) and any duplicates, for the same one request a GET costs.
        matches = await client.search(metadata=obj.identity.search_filter)
        if not matches:
            cron = await self._create(client, spec, desired)
            if obj.status.cron_id:
                events.append(EventRecord("Warning", "Recreated", f"cron {obj.status.cron_id} was missing on the server; created {cron.cron_id}"))
            else:
                events.append(EventRecord("Normal", "Created", f"created cron {cron.cron_id}"))
            if on_cron_id:
                await on_cron_id(cron.cron_id, url)
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
        self, obj: CronObject, exc: Exception, attempt: int, now: datetime, events: list[EventRecord], *, doing: str = ""
    ) -> Result:
        reason = getattr(exc, "reason", "Error")
        message = f"{doing}{exc}"
        if isinstance(exc, (InvalidSpec, Rejected)):
            outcome, retry_after = Outcome(reason, message, "stalled"), None
        elif isinstance(exc, ServerUnavailable):
            outcome, retry_after = Outcome(reason, message, "retrying"), backoff_delay(attempt, exc.retry_after)
        else:
            outcome = Outcome(reason, message, "retrying")
            retry_after = max(SLOW_RETRY_SECONDS, backoff_delay(attempt, getattr(exc, "retry_after", None)))
        previous = obj.status.condition("Ready")
        if previous is None or (previous.reason, previous.message) != (reason, message):
            events.append(EventRecord("Warning", reason, message))
        logger.warning("%s/%s: %s: %s", obj.identity.namespace, obj.identity.name, reason, message)
        status = build_status(obj.status, outcome=outcome, generation=obj.generation, now=now)
        return Result(status=status, events=events, retry_after=retry_after, done=outcome.kind == "stalled")

    # ------------------------------------------------------------ delete

    async def finalize(self, obj: CronObject, *, attempt: int = 0) -> Result:
        """Delete every cron of this object (unless Orphan). Result.done is False until they are gone."""
        now = self.clock()
        events: list[EventRecord] = []
        raw = obj.raw_spec
        if raw.get("deletionPolicy") == "Orphan":
            events.append(EventRecord("Normal", "Orphaned", f"left cron {obj.status.cron_id or '(none)'} on the server"))
            return Result(status=obj.status, events=events)
        try:
            server = ServerRef.model_validate(raw.get("server") or {})
        except ValueError:
            server = None
        url = self.server_url(server) or obj.status.server_url
        try:
            parse_spec(raw)
        except InvalidSpec:
            # A spec that never validated never made a cron, unless an earlier valid version did.
            if obj.status.cron_id is None:
                return Result(status=obj.status, events=events)
        if url is None:
            return Result(status=obj.status, events=events)
        try:
            key = await self.api_key(obj.identity.namespace, server, allow_last_known=True)
            for server_url in dict.fromkeys(u for u in (url, obj.status.server_url) if u):
                await self._delete_all(self.client(server_url, key), obj, events, why="the resource was deleted")
        except (SecretNotFound, AgentServerError) as exc:
            result = self._failure(obj, exc, attempt, now, events, doing="cannot delete the cron yet: ")
            result.done = False
            return result
        return Result(status=obj.status, events=events)

    async def _delete_all(self, client: AgentServerClient, obj: CronObject, events: list[EventRecord], *, why: str) -> None:
        ids = [c.cron_id for c in await client.search(metadata=obj.identity.search_filter)]
        if obj.status.cron_id and obj.status.cron_id not in ids:
            ids.append(obj.status.cron_id)
        for cron_id in ids:
            await self._delete_one(client, cron_id)
            events.append(EventRecord("Normal", "Deleted", f"deleted cron {cron_id} ({why})"))
