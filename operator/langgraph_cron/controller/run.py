"""`lgcron run`: start the operator. Importing this module imports the controller package, which
registers every handler; `run()` configures kopf's logging and runs it on uvloop when installed.

`check_credentials()` finds the Kubernetes credentials kopf will use before kopf starts: without
any, kopf would retry its start-up forever, printing a traceback each time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random

import kopf

from langgraph_cron.controller import login, startup

# Why the operator cannot start, as `lgcron run` exits for it (the CLI's table: cli/errors.py).
USAGE, REFUSED, UNREACHABLE = 2, 3, 4


class CannotStart(Exception):
    """The operator cannot start; the message is one line naming what to set, `code` the exit code."""

    def __init__(self, message: str, code: int = USAGE) -> None:
        super().__init__(message)
        self.code = code


def check_credentials(namespaces: list[str] | None = None, *, timeout: float = 15.0) -> None:
    """Kopf's own login, and three requests with it, before kopf runs (which would retry its start-up
    forever): CannotStart when there are no usable credentials, the API does not answer or refuses
    them, the LangGraphCron CRD is not installed, they may not list LangGraphCrons where the
    operator watches (the first of `namespaces`; None: cluster-wide), or the cluster id cannot be read
    (kube-system's UID, unless LGCRON_CLUSTER_ID is set)."""
    try:
        info = login.connection_info()
    except Exception as exc:  # noqa: BLE001  kopf.LoginError, a missing or broken kubeconfig, a failing plugin
        detail = " ".join(str(exc).split())[:300] or type(exc).__name__
        where = f"KUBECONFIG={os.environ['KUBECONFIG']}" if "KUBECONFIG" in os.environ else "~/.kube/config"
        raise CannotStart(f"no usable Kubernetes credentials: not in a cluster, and {where}: {detail}; "
                          "set KUBECONFIG to your cluster's kubeconfig file") from None
    asyncio.run(_probe(info, timeout, (namespaces or [None])[0]))


async def _probe(info: kopf.ConnectionInfo, timeout: float, namespace: str | None) -> None:
    from langgraph_cron.clients.kube import KubeClient, KubernetesApiError
    from langgraph_cron.core.models import GROUP, VERSION

    server = info.server
    where = f"in namespace {namespace}" if namespace else "cluster-wide"
    try:
        async with KubeClient(lambda: info, timeout=timeout) as kube:
            if await kube.api_group() is None:
                raise CannotStart(f"the Kubernetes API at {server} does not serve {GROUP}/{VERSION}: install the "
                                  "CRDs first (lgcron crd | kubectl apply -f -)")
            await kube.list_langgraphcrons(namespace, page_size=1, first_page_only=True)
            if "LGCRON_CLUSTER_ID" not in os.environ:
                await startup.read_cluster_id(kube)  # start-up reads it again; failing there is no one line
    except startup.ClusterIdUnreadable as exc:
        raise CannotStart(str(exc), UNREACHABLE if exc.status == 0 or exc.status >= 500 else REFUSED) from None
    except KubernetesApiError as exc:
        if exc.status == 0 or exc.status >= 500:
            raise CannotStart(f"cannot reach the Kubernetes API at {server}: {exc}", UNREACHABLE) from None
        if exc.status in (401, 403):
            raise CannotStart(f"the Kubernetes API at {server} refuses these credentials (HTTP {exc.status}): they "
                              f"may not list langgraphcrons {where}; grant them the operator's RBAC (manifests/ or "
                              "the chart)", REFUSED) from None
        raise CannotStart(f"the Kubernetes API at {server}: {exc}", REFUSED) from None


def run(*, namespaces: list[str] | None, clusterwide: bool, peering: str | None, liveness: str | None,
        verbose: bool = False, log_format: str = "plain") -> int:
    kopf.configure(verbose=verbose, log_format=kopf.LogFormat.JSON if log_format == "json" else kopf.LogFormat.FULL)
    if not verbose:
        # One INFO line per Agent Server request drowns the operator's own lines at scale.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        # kopf's "Handler ... succeeded" / "Creation is processed" lines: two per change of
        # every object. What the operator did is in each object's Events and status; -v shows them.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    # uvloop, as `kopf run` uses when installed: the operator is CPU-bound on its event loop at
    # scale, and uvloop's sockets and scheduling cost a fraction of asyncio's.
    try:
        import uvloop
    except ImportError:  # optional (a platform without wheels): plain asyncio works the same
        loop_factory = None
    else:
        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        # kopf resolves credentials itself: in-cluster service account, else KUBECONFIG / ~/.kube/config.
        kopf.run(
            loop=runner.get_loop(),
            clusterwide=clusterwide,
            namespaces=namespaces or (),
            standalone=peering is None,
            peering_name=peering,
            # kopf pauses every replica whose priority ties with another's: give each a random one.
            priority=random.randint(0, 32767) if peering else None,
            liveness_endpoint=liveness,
        )
    return 0
