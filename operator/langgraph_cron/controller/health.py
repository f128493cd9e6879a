"""/healthz (`lgcron run --liveness URL`, kopf's liveness endpoint): 200 only while the operator is
connected to the Kubernetes API.

kopf answers its endpoint by running every @kopf.on.probe handler (a success is cached for 10 s) and
answers 200 with their results, or 500 when one fails. Without a probe it answered 200 for as long as
the process ran: during a DNS outage the operator retried forever while the liveness and readiness
probes kept passing. This probe asks the API for the discovery document of lgcron.io with the
operator's own credentials, so it fails when the API server does not answer in time, or refuses them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from langgraph_cron.clients.kube import KubernetesApiError

# Below the Deployment's probe timeout (5 s), so the probe answers 500 rather than not at all.
PROBE_TIMEOUT = 4.0


class ApiUnreachable(kopf.PermanentError):
    """The Kubernetes API did not answer the probe's request, or refused the operator's credentials.
    Permanent for kopf: the probe fails at once, it is not retried with backoff while kubelet waits."""


async def check_api(kube: Any, *, timeout: float = PROBE_TIMEOUT) -> str:
    """One authenticated request (discovery of lgcron.io); ApiUnreachable on no answer, 401/403 or 5xx."""
    try:
        async with asyncio.timeout(timeout):
            await kube.api_group()
    except TimeoutError:
        raise ApiUnreachable(f"the Kubernetes API did not answer within {timeout:g}s") from None
    except KubernetesApiError as exc:
        raise ApiUnreachable(str(exc)) from None
    return "connected"


@kopf.on.probe(id="kubernetes-api")
async def kubernetes_api(memo: kopf.Memo, **_: Any) -> str:
    """kopf serves the endpoint only after start-up succeeded, so the runtime is there."""
    return await check_api(memo.runtime.kube)


class _QuietFailedProbes(logging.Filter):
    """aiohttp logs every 500 with a traceback; a failed probe is already one line in kopf's log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (exc is not None and isinstance(exc.__cause__, ApiUnreachable))


logging.getLogger("aiohttp.server").addFilter(_QuietFailedProbes())
