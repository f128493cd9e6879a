"""The operator's Kubernetes credentials, for kopf and for the operator's own client (clients/kube.py)
alike, so both follow one rule:

1. in a Pod: the service account, at the API server that KUBERNETES_SERVICE_HOST and
   KUBERNETES_SERVICE_PORT name, as client-go's InClusterConfig reads them (`https://HOST:PORT`, an
   IPv6 host in brackets). kopf's own service-account login always asks for
   https://kubernetes.default.svc, which needs cluster DNS: a hostNetwork Pod without
   ClusterFirstWithHostNet, or a DNS outage, left the operator retrying forever;
2. a service-account token but no KUBERNETES_SERVICE_* variables: kopf's login
   (https://kubernetes.default.svc);
3. else the kubeconfig (KUBECONFIG or ~/.kube/config); one whose user runs a program or plugin for
   its token goes through the official `kubernetes` library (see clients/kube.py).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import kopf

from langgraph_cron.clients.kube import uses_client_library

logger = logging.getLogger(__name__)

# Where a Pod has its service account (https://kubernetes.io/docs/tasks/run-application/access-api-from-pod/).
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
# Above kopf's own service-account login (20): when both could answer, ours is the one used.
PRIORITY_IN_CLUSTER = 30


def in_cluster_server(environ: Mapping[str, str] | None = None) -> str | None:
    """The API server a Pod is told about, as client-go builds it; None unless both variables are set."""
    env = os.environ if environ is None else environ
    host, port = env.get("KUBERNETES_SERVICE_HOST", "").strip(), env.get("KUBERNETES_SERVICE_PORT", "").strip()
    if not host or not port:
        return None
    if ":" in host and not host.startswith("["):  # net.JoinHostPort: an IPv6 address goes in brackets
        host = f"[{host}]"
    return f"https://{host}:{port}"


def login_in_cluster(*, settings: kopf.OperatorSettings | None = None, directory: Path | None = None,
                     environ: Mapping[str, str] | None = None) -> kopf.ConnectionInfo | None:
    """The Pod's service account at KUBERNETES_SERVICE_HOST:PORT; None when either the variables or the
    token file are missing. The token is read on every call: after a 401 both kopf and KubeClient log in
    again, and so pick up a rotated (projected) token."""
    server = in_cluster_server(environ)
    directory = SERVICE_ACCOUNT_DIR if directory is None else directory
    token_path = directory / "token"
    if server is None or not token_path.exists():
        return None
    token = token_path.read_text(encoding="utf-8").strip()
    namespace_path, ca_path = directory / "namespace", directory / "ca.crt"
    namespace = namespace_path.read_text(encoding="utf-8").strip() if namespace_path.exists() else ""
    settings = settings or kopf.OperatorSettings()
    return kopf.ConnectionInfo(
        server=server,
        ca_path=str(ca_path) if ca_path.exists() else None,
        token=token or None,
        default_namespace=namespace or None,
        trust_env=settings.networking.trust_env,
        priority=PRIORITY_IN_CLUSTER,
    )


def connection_info(logger: logging.Logger | logging.LoggerAdapter = logger) -> kopf.ConnectionInfo:
    """Where and how to reach the Kubernetes API: what kopf's login uses, and so does KubeClient."""
    settings = kopf.OperatorSettings()
    info = login_in_cluster(settings=settings)
    if info is not None:
        return info
    if uses_client_library():
        try:
            import kubernetes  # noqa: F401
        except ImportError:
            raise kopf.LoginError("this kubeconfig's user gets its token from a program or plugin (exec, "
                                  "auth-provider or tokenFile), which needs the `kubernetes` package: pip install "
                                  "'langgraph-cron-operator[kubeconfig]' (or pip install kubernetes)") from None
        info = kopf.login_via_client(logger=logger, settings=settings)
    else:
        info = (kopf.login_with_service_account(logger=logger, settings=settings)
                or kopf.login_with_kubeconfig(logger=logger, settings=settings))
    if info is None:
        raise kopf.LoginError("no Kubernetes credentials: not in a cluster, and no KUBECONFIG or ~/.kube/config")
    return info
