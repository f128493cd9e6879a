"""The validating admission webhook on kopf's admission support: handlers, server and configuration.

kopf serves the handlers over TLS (its WebhookServer, here told to answer through a Service) and keeps
the ValidatingWebhookConfiguration named LGCRON_WEBHOOK_CONFIGURATION (kopf's "managed" mode): the
rules come from the handlers below, the caBundle from the CA that every replica shares (a Secret, see
engine/webhook_tls.py, or cert-manager's files). Two of kopf's defaults are overridden where it builds
that configuration: its failurePolicy (kopf: Fail unless a handler ignores failures) and its timeout
(kopf: 30 s, the maximum) become LGCRON_WEBHOOK_FAILURE_POLICY and LGCRON_WEBHOOK_TIMEOUT_SECONDS.
The handlers are persistent: the configuration outlives a stopped operator, so Fail means refused
while no replica answers, and Ignore means an operator that is down blocks nothing.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import kopf

from langgraph_cron.core.models import (
    CLUSTER_SERVER_PLURAL,
    GROUP,
    PLURAL,
    SERVER_PLURAL,
    VERSION,
)
from langgraph_cron.core.webhook import WebhookSettings
from langgraph_cron.engine.admission import Admission, Verdict
from langgraph_cron.engine.webhook_tls import SecretStore, ensure_webhook_tls

logger = logging.getLogger(__name__)

_OPERATIONS = ["CREATE", "UPDATE"]


def _answer(verdict: Verdict, warnings: list[str]) -> None:
    warnings.extend(verdict.warnings)
    if verdict.refusal is not None:
        # 422 Unprocessable Entity: what the apiserver answers for a schema or CEL refusal too.
        raise kopf.AdmissionError(verdict.refusal, code=422)


@kopf.on.validate(GROUP, VERSION, PLURAL, id="langgraphcron", operations=_OPERATIONS, persistent=True)
async def validate_cron(body: kopf.Body, old: kopf.Body | None, memo: kopf.Memo, warnings: list[str],
                        **_: Any) -> None:
    admission: Admission = memo.admission
    _answer(await admission.review_cron(body, old), warnings)


@kopf.on.validate(GROUP, VERSION, SERVER_PLURAL, id="langgraphserver", operations=_OPERATIONS, persistent=True)
@kopf.on.validate(GROUP, VERSION, CLUSTER_SERVER_PLURAL, id="clusterlanggraphserver", operations=_OPERATIONS,
                  persistent=True)
async def validate_server(body: kopf.Body, old: kopf.Body | None, memo: kopf.Memo, warnings: list[str],
                          **_: Any) -> None:
    admission: Admission = memo.admission
    _answer(await admission.review_server(body, old), warnings)


# An AdmissionReview of an update carries the object twice; an object may be 1.5 MiB (etcd's limit).
# aiohttp would refuse more than 1 MiB, and with failurePolicy Ignore a refused review admits the object.
MAX_REVIEW_BYTES = 8 * 1024 * 1024


class _RefusalsAreNotErrors(logging.Filter):
    """kopf logs a handler's AdmissionError as an ERROR ("failed permanently"): for the webhook, a refused
    apply is the product working, so it is logged at INFO, and the apiserver tells the user."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.ERROR and record.getMessage().startswith("Webhook '"):
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


class ServiceWebhookServer(kopf.WebhookServer):
    """kopf's server, announced to the apiserver through a Service (every replica behind it) when one
    is named, else at its URL (an apiserver outside the cluster)."""

    @staticmethod
    async def _serve(fn: Any, request: Any) -> Any:
        return await kopf.WebhookServer._serve(fn, request.clone(client_max_size=MAX_REVIEW_BYTES))

    def __init__(self, *, service: tuple[str, str] | None, service_port: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.service = service
        self.service_port = service_port

    async def __call__(self, fn: Any) -> AsyncIterator[Any]:
        async for config in super().__call__(fn):
            if self.service is not None:
                namespace, name = self.service
                config = {"service": {"namespace": namespace, "name": name, "port": self.service_port},
                          **({"caBundle": config["caBundle"]} if "caBundle" in config else {})}
            yield config


class NoWebhookServer:
    """The webhook is off (no LGCRON_WEBHOOK_SERVICE or LGCRON_WEBHOOK_HOST): serve nothing, and leave
    any existing configuration alone (kopf's manager waits for a config that never comes)."""

    async def __call__(self, fn: Any) -> AsyncIterator[Any]:
        await asyncio.Event().wait()
        yield {}  # pragma: no cover  (never reached: makes this an async generator)


async def configure(settings: kopf.OperatorSettings, webhook: WebhookSettings, kube: SecretStore) -> None:
    """kopf's admission settings for this operator: the server, its TLS, and the managed configuration."""
    _configured.clear()
    if not webhook.enabled:
        settings.admission.server = NoWebhookServer()
        settings.admission.managed = None
        return
    if webhook.cert_dir:  # cert-manager's Secret, mounted: kopf re-reads it when it is renewed
        directory = Path(webhook.cert_dir)
        certfile, pkeyfile, cafile = directory / "tls.crt", directory / "tls.key", directory / "ca.crt"
    else:
        namespace, name = webhook.secret_ref
        tls = await ensure_webhook_tls(kube, namespace, name, webhook.hostnames)
        # kopf's server reads files; /tmp is the one writable place of a read-only Pod.
        directory = Path(tempfile.mkdtemp(prefix="lgcron-webhook-"))
        certfile, pkeyfile, cafile = directory / "tls.crt", directory / "tls.key", directory / "ca.crt"
        for path, text in ((certfile, tls.cert), (pkeyfile, tls.key), (cafile, tls.ca_cert)):
            path.write_text(text)
            path.chmod(0o600)
    settings.admission.server = ServiceWebhookServer(
        service=webhook.service_ref, service_port=webhook.service_port,
        addr=webhook.listen, port=webhook.port, host=webhook.host,
        certfile=str(certfile), pkeyfile=str(pkeyfile), cafile=str(cafile),
    )
    settings.admission.managed = webhook.configuration
    _configured.append(webhook)
    logger.info("admission webhook: listening on port %s, configuration %s, failurePolicy %s, timeout %ss",
                webhook.port, webhook.configuration, webhook.failure_policy, webhook.timeout_seconds)


# ---------------------------------------------------------------- two of kopf's defaults, overridden
# Installed when this module is imported, before kopf.run() spawns its configuration managers.

_configured: list[WebhookSettings] = []  # the settings of this process's webhook, once start-up has read them


def _with_settings(hook: dict[str, Any], webhook: WebhookSettings) -> dict[str, Any]:
    hook = {**hook, "failurePolicy": webhook.failure_policy, "timeoutSeconds": webhook.timeout_seconds}
    selector = webhook.namespace_selector()
    cluster_scoped = any(CLUSTER_SERVER_PLURAL in rule.get("resources", ()) for rule in hook.get("rules", ()))
    if selector is not None and not cluster_scoped:
        hook["namespaceSelector"] = selector
    return hook


def _install_overrides() -> None:
    try:  # kopf's internals: should a release move them, kopf's own defaults stay (Fail, 30 s)
        from kopf._core.engines import admission as kopf_admission

        build = kopf_admission.build_webhooks
    except (ImportError, AttributeError):
        logger.warning("this kopf release moved build_webhooks: the webhook keeps kopf's failurePolicy and timeout")
        return
    if getattr(build, "lgcron_override", False):
        return

    @functools.wraps(build)
    def build_webhooks(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        hooks = build(*args, **kwargs)
        if not _configured:
            return hooks
        webhook = _configured[-1]
        return [_with_settings(hook, webhook) for hook in hooks]

    build_webhooks.lgcron_override = True  # type: ignore[attr-defined]
    kopf_admission.build_webhooks = build_webhooks  # type: ignore[assignment]

    async def no_mutating_configuration(**_: Any) -> None:
        # This operator has no mutating handlers; kopf would still create an empty
        # MutatingWebhookConfiguration of the same name, which needs RBAC to create one.
        await asyncio.Event().wait()

    kopf_admission.mutating_configuration_manager = no_mutating_configuration  # type: ignore[assignment]


_install_overrides()
logging.getLogger("kopf.objects").addFilter(_RefusalsAreNotErrors())
