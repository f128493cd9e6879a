"""The operator's Kubernetes credentials: kopf's own login functions, for kopf and for the operator's
own client (clients/kube.py) alike, so both follow one rule."""

from __future__ import annotations

import logging

import kopf

from langgraph_cron.clients.kube import uses_client_library

logger = logging.getLogger(__name__)


def connection_info(logger: logging.Logger | logging.LoggerAdapter = logger) -> kopf.ConnectionInfo:
    """Where and how to reach the Kubernetes API: what kopf's login uses, and so does KubeClient."""
    settings = kopf.OperatorSettings()
    if uses_client_library():
        info = kopf.login_via_client(logger=logger, settings=settings)
    else:
        info = (kopf.login_with_service_account(logger=logger, settings=settings)
                or kopf.login_with_kubeconfig(logger=logger, settings=settings))
    if info is None:
        raise kopf.LoginError("no Kubernetes credentials: not in a cluster, and no KUBECONFIG or ~/.kube/config")
    return info
