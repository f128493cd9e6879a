"""`lgcron run`: start the operator. Importing this module imports the controller package, which
registers every handler; `run()` configures kopf's logging and runs it on uvloop when installed.

`check_credentials()` finds the Kubernetes credentials kopf will use before kopf starts: without
any, kopf would retry its start-up forever, printing a traceback each time.
"""

from __future__ import annotations

import asyncio
import logging
import random

import kopf

from langgraph_cron.controller import login


class CannotStart(Exception):
    """The operator cannot start; the message is one line naming what to set."""


def check_credentials() -> None:
    """Kopf's own login, once, before kopf runs: CannotStart when there are no usable credentials."""
    import os

    try:
        login.connection_info()
    except Exception as exc:  # noqa: BLE001  kopf.LoginError, a missing or broken kubeconfig, a failing plugin
        detail = " ".join(str(exc).split())[:300] or type(exc).__name__
        where = f"KUBECONFIG={os.environ['KUBECONFIG']}" if "KUBECONFIG" in os.environ else "~/.kube/config"
        raise CannotStart(f"no usable Kubernetes credentials: not in a cluster, and {where}: {detail}; "
                          "set KUBECONFIG to your cluster's kubeconfig file") from None


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
