"""Start-up and shutdown: kopf's settings, the clients built once, the engine kept in kopf's memo."""

from __future__ import annotations

import logging
import os
from typing import Any

import kopf
import prometheus_client

from langgraph_cron.clients import metrics
from langgraph_cron.clients.agent_server import make_http_client
from langgraph_cron.clients.events import EventPoster
from langgraph_cron.clients.kube import KubeClient, KubernetesApiError
from langgraph_cron.controller import admission, kopf_patches
from langgraph_cron.controller.diffbase import (
    StatusDigestDiffBaseStorage,
    progress_storage,
)
from langgraph_cron.controller.kube_session import gated_session
from langgraph_cron.controller.login import connection_info
from langgraph_cron.controller.registry import BodyRegistry
from langgraph_cron.controller.writer import Writer
from langgraph_cron.core.server_lookup import ServerDirectory
from langgraph_cron.core.settings import Settings
from langgraph_cron.core.webhook import WebhookSettings
from langgraph_cron.engine.admission import Admission
from langgraph_cron.engine.runtime import FINALIZER, Runtime
from langgraph_cron.engine.service import CronService

kopf_patches.install()  # kopf's JSON patches without deep copies of whole bodies (kopf_patches.py)


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, logger: logging.Logger, **_: Any) -> None:
    settings.persistence.finalizer = FINALIZER
    # kopf's bookkeeping lives in status.kopf, written together with the status (see diffbase.py).
    settings.persistence.progress_storage = progress_storage()
    settings.persistence.diffbase_storage = StatusDigestDiffBaseStorage()
    config = Settings.from_env()
    # How soon a standby replica takes over (kopf's default, 60 s, would leave crons unwatched for a minute).
    settings.peering.lifetime = config.peering_lifetime
    # A backlog (a cold start, a takeover) is handled LGCRON_MAX_WORKERS objects at a time, not all at once;
    # a worker lets its slot go half a second after its object's last event (kopf's default: five seconds;
    # engine/passes.py's FIRST_PASS_QUIET counts on it).
    settings.queueing.worker_limit = config.max_workers
    settings.queueing.idle_timeout = 0.5
    kube = KubeClient(lambda: connection_info(logger))
    if "LGCRON_CLUSTER_ID" not in os.environ:
        config = config.model_copy(update={"cluster_id": await read_cluster_id(kube)})
    if config.insecure_skip_verify:
        logger.warning("LGCRON_INSECURE_SKIP_VERIFY is set: TLS certificates of Agent Servers are NOT verified")
    http = make_http_client(verify=config.tls_verify, timeout=config.request_timeout,
                            hooks={"response": [metrics.record_response]})
    if config.metrics_port:
        prometheus_client.start_http_server(config.metrics_port, addr=config.metrics_address)
    service = CronService(config, http, kube)
    # Server objects and namespace labels, as kopf's indexes hold them (see controller/servers.py).
    service.servers = ServerDirectory()
    # Another replica could change a cron between two of our looks: then deletions always search.
    service.remember_sole_crons = settings.peering.standalone
    # Every LangGraphCron as last seen by the watch: what the batched passes work on.
    memo.registry = BodyRegistry()
    memo.runtime = Runtime(service, kube, Writer(kube, EventPoster(kube)), memo.registry,
                           clusterwide=settings.peering.clusterwide)
    memo.http = http
    # The validating webhook (controller/admission.py): the checks reconcile runs, at apply time.
    memo.admission = Admission(config, kube)
    await admission.configure(settings, WebhookSettings.from_env(), kube)
    logger.info("lgcron operator started: default server %s, resync every %ss",
                config.server_url or "(none)", config.resync_interval)


class ClusterIdUnreadable(kopf.PermanentError):
    """The cluster id could not be read: start-up stops. A made-up id would make this cluster's crons
    look like another's (or like every other cluster's that could not read its own) to the garbage
    collection and `lgcron audit`. `status`: the HTTP status of the refusal, 0 when nothing answered."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


async def read_cluster_id(kube: KubeClient) -> str:
    """The UID of namespace kube-system: the `lgcron.io/cluster` tag on every cron (LGCRON_CLUSTER_ID
    overrides it). ClusterIdUnreadable, one line saying what to grant or set, when it cannot be read."""
    fix = "grant get on namespaces/kube-system (the manifests' and the chart's RBAC do), or set LGCRON_CLUSTER_ID"
    try:
        namespace = await kube.get_namespace("kube-system")
    except KubernetesApiError as exc:
        raise ClusterIdUnreadable(f"cannot read the cluster id (the UID of namespace kube-system): {exc}; {fix}",
                                  exc.status) from None
    uid = ((namespace or {}).get("metadata") or {}).get("uid")
    if not uid:
        raise ClusterIdUnreadable("cannot read the cluster id: namespace kube-system "
                                  f"{'has no uid' if namespace else 'does not exist'}; {fix}", 404)
    return str(uid)


@kopf.on.login()
async def login(logger: logging.Logger, **_: Any) -> kopf.AiohttpSession:
    """kopf's credentials are the operator's own client's: one rule for both (see login.py), in a session
    whose requests wait for a free slot (kube_session.py): a cold start's burst opens no 1,000 connections."""
    return gated_session(connection_info(logger))


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    runtime: Runtime = memo.runtime
    await runtime.close()
    await memo.http.aclose()
    await runtime.writer.close()
    await runtime.kube.close()
