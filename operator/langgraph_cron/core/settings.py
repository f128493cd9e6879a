"""Operator-wide settings, read once from the environment at start-up."""

from __future__ import annotations

import fnmatch
import os
import urllib.parse
from collections.abc import Mapping

from pydantic import BaseModel, Field, SecretStr

from langgraph_cron import __version__
from langgraph_cron.core.models import SecretKeyRef, reject_credentials

DEFAULT_INVOKER_IMAGE = f"ghcr.io/lgcron/langgraph-cron-operator:{__version__}"


class Settings(BaseModel):
    server_url: str | None = Field(default=None, description="LGCRON_SERVER_URL: default Agent Server URL.")
    # SecretStr keeps the key out of repr() and therefore out of any log line that prints settings.
    api_key: SecretStr | None = Field(default=None, description="LGCRON_API_KEY: default API key.")
    api_key_secret: SecretKeyRef | None = Field(
        default=None,
        description=(
            "LGCRON_API_KEY_SECRET=name:key: a Secret of that name in each resource's namespace holding the key, "
            "for resources without spec.server.apiKeySecretRef (the cronJob backend needs a Secret)."
        ),
    )
    allowed_server_urls: list[str] | None = Field(
        default=None,
        description=(
            "LGCRON_ALLOWED_SERVER_URLS: comma-separated URL prefixes (https://agents.example.com/) or host globs "
            "(*.agents.example.com) that an inline spec.server.url may name; `none` allows none. Unset: any. "
            "LGCRON_SERVER_URL is always allowed."
        ),
    )
    invoker_image: str = Field(
        default=DEFAULT_INVOKER_IMAGE, description="LGCRON_INVOKER_IMAGE: image of the cronJob backend's Pods."
    )
    cluster_id: str = Field(
        default="unknown",
        description=(
            "LGCRON_CLUSTER_ID: tag (lgcron.io/cluster) on every cron this operator makes. By default the "
            "kube-system namespace's UID, read at start-up, so clusters sharing a server stay apart."
        ),
    )
    resync_interval: float = Field(default=300.0, gt=0, description="LGCRON_RESYNC_INTERVAL: seconds between drift checks.")
    request_timeout: float = Field(default=30.0, gt=0, description="LGCRON_REQUEST_TIMEOUT: seconds per HTTP request.")
    server_concurrency: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="LGCRON_SERVER_CONCURRENCY: requests in flight per Agent Server; the rest wait their turn.",
    )
    ca_bundle: str | None = Field(default=None, description="LGCRON_CA_BUNDLE: PEM file of CAs to trust for TLS.")
    insecure_skip_verify: bool = Field(
        default=False,
        description="LGCRON_INSECURE_SKIP_VERIFY: do not verify TLS certificates (an explicit, logged opt-in).",
    )
    metrics_port: int | None = Field(default=None, ge=1, le=65535, description="LGCRON_METRICS_PORT: serve Prometheus metrics.")
    metrics_address: str = Field(
        default="0.0.0.0",
        min_length=1,
        description=(
            "LGCRON_METRICS_ADDRESS: the address the metrics port binds to (0.0.0.0: every IPv4 interface; "
            "`::` for IPv6, 127.0.0.1 to keep it inside the Pod behind a proxy sidecar)."
        ),
    )
    forward_end_time: bool = Field(
        default=False,
        description=(
            "LGCRON_FORWARD_END_TIME: also send endTime to the server. Off by default because the in-memory "
            "runtime's scheduler fails on every poll once any cron has an end_time; the operator enforces it itself."
        ),
    )
    gc_interval: float = Field(
        default=0.0,
        ge=0,
        description=(
            "LGCRON_GC_INTERVAL: seconds between passes that delete this cluster's orphaned crons (crons whose "
            "LangGraphCron no longer exists) on the servers in use; 0 (the default) turns garbage collection off."
        ),
    )
    gc_min_age: float = Field(
        default=60.0,
        ge=0,
        description="LGCRON_GC_MIN_AGE: the GC leaves younger crons alone, as their resource may not be visible yet.",
    )

    missed_run_grace: float = Field(
        default=120.0,
        gt=0,
        description=(
            "LGCRON_MISSED_RUN_GRACE: seconds after a scheduled run time within which a run must appear, "
            "else lgcron_missed_runs_total counts it as missed."
        ),
    )

    peering_lifetime: int = Field(
        default=15,
        ge=5,
        le=600,
        description=(
            "LGCRON_PEERING_LIFETIME: seconds a replica's peering record lives without a keep-alive (kopf's "
            "peering.lifetime; its default is 60). A standby takes over at most this long after the active "
            "replica is lost; each replica writes its keep-alive 5-10 s before it runs out."
        ),
    )

    max_workers: int = Field(
        default=200,
        ge=10,
        le=10000,
        description=(
            "LGCRON_MAX_WORKERS: objects of one kind the operator handles at once (kopf's worker limit). The rest "
            "wait their turn holding only their watch event: a cold start with a backlog of 10,000 objects would "
            "otherwise start 10,000 handlers at once (and hold them all in memory)."
        ),
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        server_url = env.get("LGCRON_SERVER_URL") or None
        if server_url:
            try:
                reject_credentials(server_url)
            except ValueError as exc:  # raised here: pydantic's own error would quote the value
                raise ValueError(f"LGCRON_SERVER_URL {exc}") from None
        values = {
            "server_url": server_url,
            "api_key": env.get("LGCRON_API_KEY") or None,
            "api_key_secret": _secret_ref(env.get("LGCRON_API_KEY_SECRET")),
            "allowed_server_urls": _url_patterns(env.get("LGCRON_ALLOWED_SERVER_URLS")),
            "invoker_image": env.get("LGCRON_INVOKER_IMAGE") or None,
            "cluster_id": env.get("LGCRON_CLUSTER_ID") or None,
            "resync_interval": env.get("LGCRON_RESYNC_INTERVAL"),
            "request_timeout": env.get("LGCRON_REQUEST_TIMEOUT"),
            "server_concurrency": env.get("LGCRON_SERVER_CONCURRENCY") or None,
            "ca_bundle": env.get("LGCRON_CA_BUNDLE") or None,
            "insecure_skip_verify": env.get("LGCRON_INSECURE_SKIP_VERIFY") or None,
            "forward_end_time": env.get("LGCRON_FORWARD_END_TIME"),
            "metrics_port": env.get("LGCRON_METRICS_PORT") or None,
            "metrics_address": env.get("LGCRON_METRICS_ADDRESS") or None,
            "gc_interval": env.get("LGCRON_GC_INTERVAL") or None,
            "gc_min_age": env.get("LGCRON_GC_MIN_AGE") or None,
            "missed_run_grace": env.get("LGCRON_MISSED_RUN_GRACE") or None,
            "peering_lifetime": env.get("LGCRON_PEERING_LIFETIME") or None,
            "max_workers": env.get("LGCRON_MAX_WORKERS") or None,
        }
        return cls.model_validate({k: v for k, v in values.items() if v is not None})

    def server_url_allowed(self, url: str) -> bool:
        """Whether an inline server URL is allowed (LGCRON_SERVER_URL always is)."""
        if url == self.server_url or self.allowed_server_urls is None:
            return True
        return any(url_matches(url, pattern) for pattern in self.allowed_server_urls)

    @property
    def tls_verify(self) -> bool | str:
        if self.insecure_skip_verify:
            return False
        return self.ca_bundle or True


def _url_patterns(value: str | None) -> list[str] | None:
    if value is None or not value.strip():
        return None
    if value.strip().lower() == "none":
        return []
    return [part.strip() for part in value.split(",") if part.strip()]


def url_matches(url: str, pattern: str) -> bool:
    """A URL prefix matches at a path boundary (https://a.example.com matches https://a.example.com/x,
    not https://a.example.com.evil.net nor another port); a host glob matches the host alone."""
    try:
        parsed = urllib.parse.urlsplit(url)
        host = parsed.hostname or ""
        parsed.port  # noqa: B018  (raises on a malformed port)
    except ValueError:
        return False
    if parsed.username is not None or not host:
        return False
    if "://" in pattern:
        normal = f"{parsed.scheme.lower()}://{parsed.netloc.lower()}{parsed.path or '/'}"
        prefix = pattern.lower() if pattern.endswith("/") else pattern.lower() + "/"
        return normal.startswith(prefix)
    return fnmatch.fnmatchcase(host.lower(), pattern.lower())


def _secret_ref(value: str | None) -> dict[str, str] | None:
    if not value:
        return None
    name, sep, key = value.partition(":")
    if not sep:
        raise ValueError(f"LGCRON_API_KEY_SECRET must be NAME:KEY, got {value!r}")
    return {"name": name, "key": key}
