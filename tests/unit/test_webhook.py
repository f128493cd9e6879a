"""The admission webhook without Kubernetes: its settings, its certificates, the Secret that keeps them,
and what it answers (engine/admission.py) for a cron and a server object."""

from __future__ import annotations

import base64
import datetime
import ssl

import pytest
from langgraph_cron.clients.kube import KubernetesApiError
from langgraph_cron.core.settings import Settings
from langgraph_cron.core.webhook import (
    LEAF_LIFETIME,
    WebhookSettings,
    WebhookTls,
    issue,
    reusable_ca,
    still_serves,
)
from langgraph_cron.engine.admission import Admission
from langgraph_cron.engine.webhook_tls import ensure_webhook_tls

NOW = datetime.datetime(2026, 12, 5, tzinfo=datetime.UTC)


# ---------------------------------------------------------------- settings


def test_the_webhook_is_off_unless_the_operator_knows_how_it_is_reached():
    assert not WebhookSettings.from_env({}).enabled
    service = WebhookSettings.from_env({"LGCRON_WEBHOOK_SERVICE": "lgcron-system/lgcron-webhook"})
    assert service.enabled and service.service_ref == ("lgcron-system", "lgcron-webhook")
    assert service.secret_ref == ("lgcron-system", "lgcron-webhook-tls")
    assert service.hostnames[:2] == ["lgcron-webhook.lgcron-system.svc", "lgcron-webhook.lgcron-system.svc.cluster.local"]
    assert (service.failure_policy, service.timeout_seconds, service.port) == ("Ignore", 5, 9443)


@pytest.mark.parametrize("env", [
    {"LGCRON_WEBHOOK_SERVICE": "no-namespace"}, {"LGCRON_WEBHOOK_FAILURE_POLICY": "Never"},
    {"LGCRON_WEBHOOK_TIMEOUT_SECONDS": "60"}, {"LGCRON_WEBHOOK_TLS_SECRET": "a/b/c"},
    {"LGCRON_WEBHOOK_CONFIGURATION": "validation"},
])
def test_a_wrong_webhook_setting_is_refused(env):
    with pytest.raises(ValueError):
        WebhookSettings.from_env(env)


def test_an_operator_of_some_namespaces_reviews_only_those():
    settings = WebhookSettings.from_env({"LGCRON_WEBHOOK_HOST": "127.0.0.1", "LGCRON_WEBHOOK_NAMESPACES": "b, a"})
    assert settings.namespace_selector() == {"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["a", "b"]}]}
    assert WebhookSettings.from_env({"LGCRON_WEBHOOK_HOST": "127.0.0.1"}).namespace_selector() is None


# ---------------------------------------------------------------- certificates


def test_an_issued_certificate_is_trusted_through_its_ca_for_its_names():
    tls = issue(["lgcron-webhook.ns.svc", "127.0.0.1"], now=NOW)
    assert still_serves(tls, ["lgcron-webhook.ns.svc", "127.0.0.1"], now=NOW)
    assert not still_serves(tls, ["other.ns.svc"], now=NOW)
    context = ssl.create_default_context(cadata=tls.ca_cert)  # the apiserver's view: the caBundle
    assert context.cert_store_stats()["x509_ca"] == 1


def test_a_certificate_near_its_end_is_renewed_by_the_same_ca():
    tls = issue(["a.ns.svc"], now=NOW)
    later = NOW + LEAF_LIFETIME - datetime.timedelta(days=10)
    assert not still_serves(tls, ["a.ns.svc"], now=later)
    assert reusable_ca(tls, now=NOW) is tls
    renewed = issue(["a.ns.svc"], ca=reusable_ca(tls, now=NOW), now=later)
    assert renewed.ca_cert == tls.ca_cert and renewed.cert != tls.cert
    assert still_serves(renewed, ["a.ns.svc"], now=later)


class Secrets:
    """A Secret store that can lose a race: another replica writes between our read and our write."""

    def __init__(self) -> None:
        self.secret: dict | None = None
        self.version = 0
        self.race_on_create: WebhookTls | None = None

    def _store(self, tls: WebhookTls) -> dict:
        self.version += 1
        data = {k: base64.b64encode(v.encode()).decode() for k, v in tls.as_secret_data().items()}
        self.secret = {"metadata": {"resourceVersion": str(self.version)}, "data": data}
        return self.secret

    async def get_secret(self, namespace: str, name: str) -> dict | None:
        return self.secret

    async def create_secret(self, secret: dict) -> dict | None:
        if self.race_on_create is not None:
            self._store(self.race_on_create)
            return None
        if self.secret is not None:
            return None
        self.secret = {**secret, "metadata": {**secret["metadata"], "resourceVersion": "1"}}
        return self.secret

    async def replace_secret(self, secret: dict) -> dict | None:
        if secret["metadata"]["resourceVersion"] != self.secret["metadata"]["resourceVersion"]:
            return None
        self.version += 1
        self.secret = {**secret, "metadata": {**secret["metadata"], "resourceVersion": str(self.version)}}
        return self.secret


async def test_two_replicas_starting_together_share_one_ca():
    store = Secrets()
    theirs = issue(["a.ns.svc"])
    store.race_on_create = theirs  # the other replica's create lands first
    ours = await ensure_webhook_tls(store, "ns", "lgcron-webhook-tls", ["a.ns.svc"])
    assert ours == theirs


async def test_a_secret_for_other_names_is_reissued_with_its_ca_kept():
    store = Secrets()
    first = await ensure_webhook_tls(store, "ns", "tls", ["a.ns.svc"])
    again = await ensure_webhook_tls(store, "ns", "tls", ["a.ns.svc"])
    assert again == first  # nothing to do: no write
    moved = await ensure_webhook_tls(store, "ns", "tls", ["b.ns.svc"])
    assert moved.ca_cert == first.ca_cert and still_serves(moved, ["b.ns.svc"])


# ---------------------------------------------------------------- what the webhook answers


class Objects:
    def __init__(self, servers: dict | None = None, namespaces: dict | None = None, fail: bool = False) -> None:
        self.servers = servers or {}
        self.namespaces = namespaces or {}
        self.fail = fail

    async def get_server_object(self, plural: str, namespace: str | None, name: str) -> dict | None:
        if self.fail:
            raise KubernetesApiError("GET", "/apis/...", 503, "unavailable")
        return self.servers.get((plural, namespace, name))

    async def namespace_labels(self, name: str) -> dict | None:
        found = self.namespaces.get(name)
        return None if found is None else found["metadata"].get("labels") or {}


def cron(spec: dict, namespace: str = "team-a") -> dict:
    return {"metadata": {"name": "nightly", "namespace": namespace},
            "spec": {"schedule": "0 9 * * *", "assistantId": "agent", **spec}}


SETTINGS = Settings(server_url="https://default.example.com", allowed_server_urls=["https://ok.example.com/"])


async def test_a_bad_cron_is_refused_in_the_words_of_its_condition():
    admission = Admission(SETTINGS, Objects())
    verdict = await admission.review_cron(cron({"schedule": "61 7 * * *"}))
    assert verdict.refusal is not None and verdict.refusal.startswith("spec.schedule: invalid cron expression")
    assert (await admission.review_cron(cron({}))).refusal is None


async def test_an_update_that_leaves_the_spec_alone_or_a_deletion_is_never_refused():
    admission = Admission(SETTINGS, Objects())
    bad = cron({"schedule": "61 7 * * *"})
    assert (await admission.review_cron(bad, old=bad)).refusal is None  # e.g. the finalizer's removal
    deleting = {**bad, "metadata": {**bad["metadata"], "deletionTimestamp": "2026-12-05T00:00:00Z"}}
    assert (await admission.review_cron(deleting)).refusal is None


async def test_a_missing_server_object_is_admitted_with_a_warning_and_a_foreign_one_refused():
    foreign = {"metadata": {"name": "shared"}, "spec": {"url": "https://ok.example.com",
                                                        "conditions": [{"namespaces": ["team-b"]}]}}
    admission = Admission(SETTINGS, Objects(servers={("clusterlanggraphservers", None, "shared"): foreign}))
    missing = await admission.review_cron(cron({"serverRef": {"name": "later"}}))
    assert missing.refusal is None and "does not exist" in missing.warnings[0]
    refused = await admission.review_cron(cron({"serverRef": {"kind": "ClusterLangGraphServer", "name": "shared"}}))
    assert refused.refusal == ("spec.serverRef: ClusterLangGraphServer shared does not allow namespace 'team-a' "
                               "(its spec.conditions); no request was sent")


async def test_an_inline_url_outside_the_allowlist_is_refused():
    verdict = await Admission(SETTINGS, Objects()).review_cron(cron({"server": {"url": "https://evil.example.com"}}))
    assert verdict.refusal is not None and "LGCRON_ALLOWED_SERVER_URLS" in verdict.refusal


async def test_an_unreadable_server_object_admits_with_a_warning():
    verdict = await Admission(SETTINGS, Objects(fail=True)).review_cron(cron({"serverRef": {"name": "x"}}))
    assert verdict.refusal is None and verdict.warnings


async def test_a_server_object_is_reviewed_too():
    admission = Admission(SETTINGS, Objects())
    bad = {"kind": "LangGraphServer", "metadata": {"name": "s", "namespace": "team-a"},
           "spec": {"url": "https://a.example.com:99999"}}
    assert (await admission.review_server(bad)).refusal == "spec.url: 'https://a.example.com:99999' has an invalid port"
    outside = {**bad, "spec": {"url": "https://elsewhere.example.com"}}
    assert "LGCRON_ALLOWED_SERVER_URLS" in (await admission.review_server(outside)).refusal
    fine = {**bad, "spec": {"url": "https://ok.example.com"}}
    assert (await admission.review_server(fine)).refusal is None
