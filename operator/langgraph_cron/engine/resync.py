"""The batched drift check of a resync pass: one paged search per (server, key) instead of a request
per object.

An object found in sync is fingerprinted (its resourceVersion and a digest of its cron exactly as the
server returned it): while neither changes, and no run time or endTime has passed, the next pass
compares digests and nothing else. Anything else gets the full comparison; anything that drifted is
handed back for a full reconcile.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from langgraph_cron.clients.agent_server import AgentServerClient, AgentServerError
from langgraph_cron.clients.kube import SecretNotFound
from langgraph_cron.core import runcontrol
from langgraph_cron.core.connections import Connection
from langgraph_cron.core.models import LangGraphCronSpec, parse_time
from langgraph_cron.core.objects import CronObject, Result
from langgraph_cron.core.plan import desired_cron, observed_cron, plan_update
from langgraph_cron.core.spec import CLUSTER_KEY, UID_KEY, InvalidSpec, parse_effective
from langgraph_cron.core.status import Outcome, build_status, status_patch
from langgraph_cron.engine.backends import Backends
from langgraph_cron.engine.memory import Fingerprint
from langgraph_cron.engine.parts import Parts

# A resync pass trusts a fingerprint at most this long before it checks the object in full again.
FINGERPRINT_MAX_AGE = timedelta(hours=1)


def cron_digest(raw: Mapping[str, Any]) -> str:
    """A digest of a cron exactly as the server returned it: any change on the server changes it
    (a patch, or a run that moves next_run_date)."""
    return hashlib.blake2b(json.dumps(raw, separators=(",", ":")).encode(), digest_size=16).hexdigest()


@dataclass
class _Candidate:
    """An object in a batched check; parsed only when its fingerprint does not settle it."""

    body: Mapping[str, Any]
    fingerprint: Fingerprint | None
    cluster: str
    obj: CronObject | None = None
    spec: LangGraphCronSpec | None = None
    connection: Connection | None = None

    def object(self) -> CronObject:
        if self.obj is None:
            self.obj = CronObject.from_body(self.body, cluster=self.cluster)
        return self.obj

    def parsed_spec(self) -> LangGraphCronSpec | None:
        if self.spec is None:
            try:
                obj = self.object()
                self.spec = parse_effective(obj.raw_spec, obj.identity.namespace, obj.identity.name)
            except InvalidSpec:
                return None
        return self.spec


class Resync:
    def __init__(self, parts: Parts, backends: Backends) -> None:
        self.parts = parts
        self.backends = backends

    async def check(self, bodies: Iterable[Mapping[str, Any]]) -> tuple[list[tuple[CronObject, Result]], list[CronObject]]:
        """Returns the objects whose status should be refreshed (in sync, but nextRunDate moved), and
        the objects that need a full reconcile (missing, changed or duplicated crons, expiry, errors).
        Invalid specs are skipped: they make no server calls until the spec changes."""
        parts, memory = self.parts, self.parts.memory
        cluster = parts.settings.cluster_id
        now = parts.clock()
        in_sync: list[tuple[CronObject, Result]] = []
        dirty: list[CronObject] = []
        groups: dict[AgentServerClient, dict[str, _Candidate]] = {}
        clients: dict[Connection, AgentServerClient] = {}  # one Secret read per connection and pass

        async def client_of(connection: Connection) -> AgentServerClient:
            if connection not in clients:
                clients[connection] = await parts.connector.client_for(connection)
            return clients[connection]

        for body in bodies:
            meta = body["metadata"]
            known = memory.fingerprint(meta["uid"])
            if known is not None and known.resource_version == meta.get("resourceVersion") and now < known.valid_until:
                try:
                    client = await client_of(known.connection)
                except (SecretNotFound, InvalidSpec):
                    dirty.append(CronObject.from_body(body, cluster=cluster))
                    continue
                groups.setdefault(client, {})[meta["uid"]] = _Candidate(body, known, cluster, connection=known.connection)
                continue
            if known is not None:
                memory.drop_fingerprint(meta["uid"])
            obj = CronObject.from_body(body, cluster=cluster)
            try:
                spec = parse_effective(obj.raw_spec, obj.identity.namespace, obj.identity.name)
                connection = parts.connector.resolve(spec, obj.identity.namespace)
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
            backend = self.backends[spec.backend]
            if ready is None or ready.status != "True" or obj.status.observed_generation != obj.generation:
                dirty.append(obj)  # failing or unfinished: the full path retries it
            elif not backend.batched_resync:
                refreshed = backend.resync_locally(obj, spec, now)
                if refreshed is None:
                    dirty.append(obj)
                else:
                    in_sync.append((obj, refreshed))
            else:
                try:
                    client = await client_of(connection)
                except (SecretNotFound, InvalidSpec):
                    dirty.append(obj)
                    continue
                groups.setdefault(client, {})[obj.identity.uid] = _Candidate(body, None, cluster, obj, spec, connection)
        for client, members in groups.items():
            try:
                found = await self._crons_by_uid(client, members)
            except AgentServerError:
                dirty.extend(candidate.object() for candidate in members.values())
                continue
            for uid, candidate in members.items():
                crons = found.get(uid, [])
                if len(crons) == 1 and crons[0][2] is None:
                    continue  # exactly as at the fingerprint: nothing to do, nothing to write
                memory.drop_fingerprint(uid)
                obj, spec = candidate.object(), candidate.parsed_spec()
                if spec is None:
                    continue
                cron = client.parse(crons[0][2]) if len(crons) == 1 else None
                result = self._compare(obj, spec, candidate, cron, now)
                if result is None:
                    dirty.append(obj)
                    continue
                in_sync.append((obj, result))
                if status_patch(obj.status, result.status) is None:  # no write follows: this body stays current
                    self._fingerprint(obj, spec, candidate.connection, crons[0], now)
        return in_sync, dirty

    def _compare(self, obj: CronObject, spec: LangGraphCronSpec, candidate: _Candidate, cron: Any,
                 now: datetime) -> Result | None:
        """The refreshed status when the server's cron is exactly what the spec asks for; else None."""
        # As the last reconcile left it: disabled while paused or out of budget.
        previous = self.parts.memory.history_base(obj.identity.uid, obj.status)
        control = runcontrol.apply_controls(spec, previous, generation=obj.generation,
                                            annotations=obj.annotations, now=now)
        backend_spec = runcontrol.backend_spec(spec, control)
        desired = desired_cron(backend_spec, obj.identity, now, forward_end_time=self.parts.settings.forward_end_time,
                               history_pruned=self.parts.prunes_history)
        if (
            cron is None
            or cron.cron_id != obj.status.cron_id
            or plan_update(desired, observed_cron(cron), thread_id=spec.thread_id).action != "noop"
            or control.events  # a resume or a pause to act on: the full path
        ):
            return None
        connection = candidate.connection
        assert connection is not None
        status = build_status(
            control.status, outcome=control.stopped or Outcome.ready(spec, now), generation=obj.generation,
            now=now, spec=backend_spec, cron=cron, server_url=connection.url,
            server_ref=connection.via.ref if connection.via else None,
        )
        return Result(status=status)

    async def _crons_by_uid(
        self, client: AgentServerClient, members: Mapping[str, _Candidate]
    ) -> dict[str, list[tuple[str, str, dict[str, Any] | None]]]:
        """This cluster's crons on one server, by uid: (cron id, digest, raw JSON). The raw JSON is
        None for a cron exactly as its object's fingerprint says (the common case), so a pass
        holds little more than one page at a time."""
        found: dict[str, list[tuple[str, str, dict[str, Any] | None]]] = {}
        seen: set[str] = set()
        async for page in client.search_pages(metadata={CLUSTER_KEY: self.parts.settings.cluster_id}):
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

    def _fingerprint(self, obj: CronObject, spec: LangGraphCronSpec, connection: Connection | None,
                     cron: tuple[str, str, Any], now: datetime) -> None:
        """Remember that this object and its cron were in sync, until a run time or endTime passes
        (nextRunDate, upcomingRuns and Expired move then) or an hour, whichever comes first."""
        assert connection is not None
        until = now + FINGERPRINT_MAX_AGE
        if obj.status.upcoming_runs:
            until = min(until, parse_time(obj.status.upcoming_runs[0]))
        if spec.end_time is not None:
            until = min(until, spec.end_time)
        self.parts.memory.set_fingerprint(obj.identity.uid, Fingerprint(
            resource_version=obj.resource_version, connection=connection,
            cron_id=cron[0], cron_digest=cron[1], valid_until=until))
