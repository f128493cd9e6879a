"""langgraph-cron-operator: LangGraphCron resources reconciled into LangGraph Agent Server crons.

Importing the package registers the kopf handlers, so `kopf run -m langgraph_cron` works.
"""

import os
import sys

__version__ = "0.1.0"


def _needs_kubernetes_client() -> bool:
    """Whether Kubernetes credentials need the official client library (kube.uses_client_library,
    repeated here because it must run before kopf is imported)."""
    if os.path.exists("/var/run/secrets/kubernetes.io/serviceaccount/token") and "KUBERNETES_SERVICE_HOST" in os.environ:
        return False
    import yaml

    paths = [os.path.expanduser(p.strip()) for p in os.environ.get("KUBECONFIG", "~/.kube/config").split(os.pathsep)]
    try:
        with open(next(p for p in paths if p)) as f:
            config = yaml.safe_load(f) or {}
        context = next(c["context"] for c in config.get("contexts") or [] if c["name"] == config.get("current-context"))
        user = next(u.get("user") or {} for u in config.get("users") or [] if u["name"] == context["user"])
    except (OSError, StopIteration, KeyError, TypeError, yaml.YAMLError):
        return False
    return any(key in user for key in ("exec", "auth-provider", "tokenFile"))


if "kopf" not in sys.modules and "kubernetes" not in sys.modules and not _needs_kubernetes_client():
    # kopf imports the official client at start-up when it is installed, only to recognise its
    # model objects: ~13 MB of RSS the operator never uses (its own client is aiohttp, kube.py).
    # Hidden while kopf loads, and visible again after, for whoever really needs it.
    sys.modules["kubernetes"] = None  # type: ignore[assignment]
    try:
        import kopf

        kopf.get_default_registry()  # its first creation looks for the client library too
    finally:
        del sys.modules["kubernetes"]

from langgraph_cron import handlers  # noqa: E402, F401  (registers the handlers)
