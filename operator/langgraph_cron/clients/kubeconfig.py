"""The CLI's way to the Kubernetes API: an `Endpoint` (clients/kube.py) from the user's kubeconfig.

The official `kubernetes` library's loader reads it, so everything kubectl users have works: several
files in KUBECONFIG, contexts, embedded or file certificates, tokens, basic auth, exec plugins and
auth providers (their tokens are fetched again on every login, i.e. after a 401). Inside a Pod with
no kubeconfig, the Pod's service account. Nothing is cached beyond one `Endpoint`.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from typing import Any

IN_CLUSTER_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


class KubeconfigError(Exception):
    """No usable Kubernetes credentials. The message is one line and names KUBECONFIG."""


@dataclass
class KubeconfigEndpoint:
    """Where and how to reach the Kubernetes API (the `Endpoint` protocol of clients/kube.py)."""

    configuration: Any  # kubernetes.client.Configuration
    source: str  # the kubeconfig path(s), or "in-cluster service account"
    trust_env: bool = False  # the kubeconfig says which proxy (proxy-url), as the official client does

    @property
    def server(self) -> str:
        return str(self.configuration.host).rstrip("/")

    @property
    def proxy_url(self) -> str | None:
        return self.configuration.proxy or None

    def as_ssl_context(self) -> ssl.SSLContext:
        config = self.configuration
        context = ssl.create_default_context(cafile=config.ssl_ca_cert or None)
        if not config.verify_ssl:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if config.cert_file:
            context.load_cert_chain(config.cert_file, config.key_file or None)
        return context

    def as_http_headers(self) -> dict[str, str]:
        config = self.configuration
        # Calls the loader's refresh hook: an exec plugin's or auth provider's token is fetched anew.
        token = config.get_api_key_with_prefix("BearerToken", alias="authorization")
        if token:
            return {"Authorization": token}
        basic = config.get_basic_auth_token() if config.username or config.password else None
        return {"Authorization": basic} if basic else {}


def kubeconfig_paths(environ: dict[str, str] | None = None) -> str:
    """KUBECONFIG as kubectl reads it (paths joined by os.pathsep), else ~/.kube/config."""
    env = os.environ if environ is None else environ
    return env.get("KUBECONFIG") or "~/.kube/config"


def _in_cluster() -> bool:
    return "KUBERNETES_SERVICE_HOST" in os.environ and os.path.exists(IN_CLUSTER_TOKEN)


def load_endpoint(context: str | None = None) -> KubeconfigEndpoint:
    """The Kubernetes API of the current (or the named) context; KubeconfigError naming KUBECONFIG
    when there is no kubeconfig or it cannot be used. Inside a Pod with neither KUBECONFIG nor
    ~/.kube/config: its service account."""
    paths = kubeconfig_paths()
    existing = [p for p in paths.split(os.pathsep) if p and os.path.exists(os.path.expanduser(p))]
    try:
        import kubernetes
    except ImportError:  # not in the image: the kubeconfig extra (pyproject.toml), which the test extra includes
        raise KubeconfigError("reading a kubeconfig needs the `kubernetes` package: "
                              "pip install 'langgraph-cron-operator[kubeconfig]' (or pip install kubernetes)") from None
    config = kubernetes.client.Configuration()
    if not existing:
        if "KUBECONFIG" not in os.environ and _in_cluster():
            try:
                kubernetes.config.load_incluster_config(client_configuration=config)
            except kubernetes.config.ConfigException as exc:
                raise KubeconfigError(f"cannot use the in-cluster service account: {_one_line(exc)}") from None
            return KubeconfigEndpoint(config, "in-cluster service account")
        where = f"KUBECONFIG={os.environ['KUBECONFIG']}" if "KUBECONFIG" in os.environ else "~/.kube/config"
        raise KubeconfigError(
            f"no kubeconfig: {where} does not exist; set KUBECONFIG to your cluster's kubeconfig file"
        )
    source = os.pathsep.join(existing)
    try:
        kubernetes.config.load_kube_config(
            config_file=os.pathsep.join(existing), context=context, client_configuration=config,
            persist_config=False,  # never rewrite the user's file (a refreshed auth-provider token)
        )
    except Exception as exc:  # noqa: BLE001  ConfigException, YAML errors, a failing exec plugin, ...
        raise KubeconfigError(f"invalid kubeconfig (KUBECONFIG={source}): {_one_line(exc)}") from None
    if not config.host or "://" not in str(config.host):
        raise KubeconfigError(f"invalid kubeconfig (KUBECONFIG={source}): its cluster has no server URL")
    endpoint = KubeconfigEndpoint(config, source)
    try:
        endpoint.as_ssl_context()  # a missing or unreadable CA, certificate or key: say so now, in one line
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise KubeconfigError(f"invalid kubeconfig (KUBECONFIG={source}): TLS files: {_one_line(exc)}") from None
    return endpoint


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:300] + "..."
