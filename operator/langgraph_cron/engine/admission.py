"""What the validating admission webhook answers: the checks reconcile runs, at `kubectl apply` time.

A LangGraphCron is refused with the sentence its InvalidSpec condition would carry: the spec parsed as
reconcile parses it (cron expression, IANA timezone, H expansion, every rule of core/rules.py), and the
server it names resolved as reconcile resolves it (a ClusterLangGraphServer that does not allow this
namespace, an inline URL outside LGCRON_ALLOWED_SERVER_URLS, no server at all). A server object that
does not exist yet is no refusal: GitOps tools apply in any order, so the cron waits for it (a warning
says so). The server objects are read from the API on each review, not from the watches: a standby
replica, whose watches are paused, answers the same.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from langgraph_cron.clients.kube import KubernetesApiError
from langgraph_cron.core.connections import (
    ServerKey,
    ServerNotFound,
    ServerNotReady,
    resolve,
    server_connection,
    uses_namespace_labels,
)
from langgraph_cron.core.models import CLUSTER_SERVER_KIND, LangGraphCronSpec
from langgraph_cron.core.server_lookup import StaticServers
from langgraph_cron.core.settings import Settings
from langgraph_cron.core.spec import InvalidSpec, parse_effective

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    refusal: str | None = None  # the reason, as the InvalidSpec condition would say it; None: allowed
    warnings: tuple[str, ...] = ()


ALLOWED = Verdict()


class ObjectReader(Protocol):
    async def get_server_object(self, plural: str, namespace: str | None, name: str) -> dict[str, Any] | None: ...
    async def get_namespace(self, name: str) -> dict[str, Any] | None: ...


def _changes_nothing_to_check(body: Mapping[str, Any], old: Mapping[str, Any] | None) -> bool:
    """A deletion in progress, or an update that leaves the spec alone (finalizers, annotations, labels):
    never refused, so an operator's own bookkeeping, and a cleanup, always go through."""
    if (body.get("metadata") or {}).get("deletionTimestamp"):
        return True
    return old is not None and old.get("spec") == body.get("spec")


class Admission:
    def __init__(self, settings: Settings, kube: ObjectReader) -> None:
        self.settings = settings
        self.kube = kube

    async def review_cron(self, body: Mapping[str, Any], old: Mapping[str, Any] | None = None) -> Verdict:
        if _changes_nothing_to_check(body, old):
            return ALLOWED
        meta = body.get("metadata") or {}
        namespace = meta.get("namespace") or "default"
        try:
            spec = parse_effective(body.get("spec"), namespace, meta.get("name") or meta.get("generateName") or "")
        except InvalidSpec as exc:
            return Verdict(str(exc))
        try:
            lookup = await self._servers_for(spec, namespace)
        except KubernetesApiError as exc:
            # The apiserver calling us is up; a read it refuses must not block the apply (reconcile checks).
            logger.warning("admission: cannot read the server object of %s/%s: %s", namespace, meta.get("name"), exc)
            return Verdict(warnings=(f"the server object could not be checked ({exc.status}); the operator will",))
        try:
            resolve(spec, namespace, lookup, self.settings, require_ready=False)
        except ServerNotFound as exc:
            return Verdict(warnings=(f"{exc}: the cron waits for it",))
        except ServerNotReady as exc:
            return Verdict(warnings=(str(exc),))
        except InvalidSpec as exc:  # ServerNotAllowed, no server at all
            return Verdict(str(exc))
        return ALLOWED

    async def review_server(self, body: Mapping[str, Any], old: Mapping[str, Any] | None = None) -> Verdict:
        if _changes_nothing_to_check(body, old):
            return ALLOWED
        try:
            server_connection(body, self.settings)
        except InvalidSpec as exc:  # a bad field, or a namespaced server outside LGCRON_ALLOWED_SERVER_URLS
            return Verdict(str(exc))
        return ALLOWED

    async def _servers_for(self, spec: LangGraphCronSpec, namespace: str) -> StaticServers:
        lookup = StaticServers()
        if spec.server_ref is None:
            return lookup
        key = ServerKey.of(spec.server_ref, namespace)
        server = await self.kube.get_server_object(key.plural, key.namespace, key.name)
        if server is None:
            return lookup
        lookup.objects[key] = {**server, "kind": key.kind}
        if key.kind == CLUSTER_SERVER_KIND and uses_namespace_labels(server):
            try:
                labels = await self.kube.namespace_labels(namespace)
            except KubernetesApiError:
                labels = None  # unreadable labels match no selector, as in reconcile
            if labels is not None:
                lookup.labels[namespace] = labels
        return lookup
