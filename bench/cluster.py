"""The Kubernetes side: the kmock emulator served from this process's event loop, or a real cluster."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import ssl
import time
import warnings
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import attrs
import httpx
import kmock
import kubernetes
from control_plane import ControlPlane
from kube_emulator import KubeEmulator
from kube_test_api import (
    LGCRON_API_VERSION,
    LGCRON_KIND,
    LGCRON_PLURAL,
    KubeTestApi,
    api_path,
    ensure_crds,
)
from langgraph_cron.clients.transport import AiohttpTransport
from prometheus_client.parser import text_string_to_metric_families

from bench import ROOT

CRD_MANIFEST = ROOT / "crds" / "langgraphcron.yaml"


@attrs.define(kw_only=True)
class CountingEmulator(KubeEmulator):
    """The tests' emulator, counting the requests of everyone but the bench (whose client is httpx)."""

    counts: collections.Counter = attrs.field(factory=collections.Counter, init=False)

    async def _handle(self, request: kmock.Request) -> Any:
        if not request.headers.get("User-Agent", "").startswith("python-httpx"):
            what = request.resource.plural if request.resource and request.resource.plural else "(other)"
            watch = " (watch)" if request.params.get("watch") in ("true", "1") else ""
            self.counts[f"{request.method.value} {what}{'/' + request.subresource if request.subresource else ''}{watch}"] += 1
        return await super()._handle(request)


@contextlib.asynccontextmanager
async def emulator(workdir: Path) -> AsyncIterator[tuple[Path, CountingEmulator]]:
    """Start kmock (as tests/operator/conftest.py's fixtures do, without pytest); yield a kubeconfig for it."""
    async with CountingEmulator() as emu, kmock.Server(emu):
        with warnings.catch_warnings(category=DeprecationWarning, action="ignore"):
            emu.resources.load_bundled()
        emu.resources[f"{LGCRON_API_VERSION}/{LGCRON_PLURAL}"] = kmock.ResourceInfo(
            kind=LGCRON_KIND, singular="langgraphcron", shortnames={"lgcron", "lgc"}, namespaced=True,
            verbs={"create", "get", "list", "watch", "patch", "update", "delete"}, subresources={"status"})
        path = workdir / "kubeconfig"
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "kmock",
            "clusters": [{"name": "kmock", "cluster": {"server": str(emu.url).rstrip("/")}}],
            "users": [{"name": "kmock", "user": {}}],
            "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "kmock"}}],
        }))
        yield path, emu


def start_control_plane(assets: str) -> ControlPlane:
    """Started from the main thread, not a worker: its processes die with the thread that made them."""
    control_plane = ControlPlane.from_assets(assets)
    control_plane.start()
    return control_plane


class ApiserverMetrics:
    """apiserver_request_total from a real apiserver's /metrics (every client's requests)."""

    def __init__(self, kubeconfig: Path) -> None:
        self.api = KubeTestApi(kubeconfig, "default")

    def _requests(self) -> collections.Counter:
        text = self.api.text_blocking("GET", "/metrics", accept="text/plain")
        counts: collections.Counter = collections.Counter()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "apiserver_request_total" and sample.labels.get("resource"):
                    labels = sample.labels
                    what = labels["resource"] + (f"/{labels['subresource']}" if labels.get("subresource") else "")
                    counts[f"{labels['verb']} {what}"] += int(sample.value)
        return counts

    async def requests(self) -> collections.Counter:
        return await asyncio.to_thread(self._requests)


def apply_crd(kubeconfig: Path) -> None:
    api = KubeTestApi(kubeconfig, "default")
    try:
        ensure_crds(api, CRD_MANIFEST)
    finally:
        api.close()


class Kube:
    """An async client for one namespace's LangGraphCrons (any kubeconfig with token or client-cert auth)."""

    def __init__(self, kubeconfig: Path, namespace: str, concurrency: int) -> None:
        cfg = kubernetes.client.Configuration()
        kubernetes.config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
        tls = ssl.create_default_context(cafile=cfg.ssl_ca_cert)
        if not cfg.verify_ssl:
            tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
        if cfg.cert_file:
            tls.load_cert_chain(cfg.cert_file, cfg.key_file)
        if cfg.refresh_api_key_hook:
            cfg.refresh_api_key_hook(cfg)  # exec plugins (EKS, GKE): fetch the token now
        headers = {a["key"]: a["value"] for a in cfg.auth_settings().values() if a["in"] == "header" and a["value"]}
        self.namespace = namespace
        # Requests go through the operator's aiohttp transport: the load generator shares the 2 cores
        # with the system measured, and plain httpx costs it ~3x the CPU per request. The User-Agent
        # stays httpx's, which is how CountingEmulator leaves the bench's own requests uncounted.
        self.http = httpx.AsyncClient(
            base_url=cfg.host, timeout=60, headers=headers,
            transport=AiohttpTransport(ssl_context=tls, max_connections=concurrency + 2))
        # That transport reads whole bodies; a watch is a stream, so it has a plain httpx client.
        self.stream_http = httpx.AsyncClient(base_url=cfg.host, verify=tls, headers=headers)

    def path(self, name: str | None = None) -> str:
        return api_path(LGCRON_API_VERSION, LGCRON_PLURAL, self.namespace, name)

    async def call(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        response = await self.http.request(
            method, path, content=None if body is None else json.dumps(body), headers={"content-type": content_type})
        response.raise_for_status()
        return response.json()

    async def create_namespace(self) -> None:
        await self.call("POST", api_path("v1", "namespaces"), {"metadata": {"name": self.namespace}})

    async def delete_namespace(self) -> None:
        """Release leftovers' finalizers first: with the operator gone they would block the namespace forever."""
        for obj in await self.list():
            with contextlib.suppress(httpx.HTTPStatusError):
                await self.call("PATCH", self.path(obj["metadata"]["name"]), {"metadata": {"finalizers": None}},
                                "application/merge-patch+json")
        with contextlib.suppress(httpx.HTTPStatusError):
            await self.call("DELETE", api_path("v1", "namespaces", name=self.namespace))

    async def create(self, name: str, spec: dict[str, Any]) -> None:
        await self.call("POST", self.path(), {"apiVersion": LGCRON_API_VERSION, "kind": LGCRON_KIND,
                                              "metadata": {"name": name}, "spec": spec})

    async def delete(self, name: str) -> None:
        await self.call("DELETE", self.path(name))

    async def list(self) -> list[dict[str, Any]]:
        return (await self.call("GET", self.path()))["items"]

    async def list_with_version(self) -> tuple[list[dict[str, Any]], str]:
        found = await self.call("GET", self.path())
        return found["items"], found["metadata"]["resourceVersion"]

    async def watch(self, resource_version: str) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """(type, object) from one watch connection, until the server ends it."""
        params = {"watch": "true", "resourceVersion": resource_version, "allowWatchBookmarks": "false",
                  "timeoutSeconds": "300"}
        async with self.stream_http.stream("GET", self.path(), params=params, timeout=None) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if line.strip():
                    event = json.loads(line)
                    yield event["type"], event["object"]

    async def event_reasons(self) -> str:
        """The namespace's Kubernetes Events, counted by reason."""
        items = (await self.call("GET", api_path("v1", "events", self.namespace)))["items"]
        reasons = collections.Counter(e.get("reason") for e in items)
        return f"{len(items)} (" + ", ".join(f"{r}={c}" for r, c in reasons.most_common()) + ")"

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.stream_http.aclose()


def is_ready(obj: dict[str, Any]) -> bool:
    status = obj.get("status") or {}
    return status.get("observedGeneration") == obj["metadata"].get("generation") and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


class Observer:
    """Follows the namespace's LangGraphCrons with one list + watch (a list poll of N objects would
    cost the emulator, which shares the machine with the operator, more CPU than the thing measured).

    Records when each object was first seen Ready and which objects still exist.
    """

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.ready_at: dict[str, float] = {}
        self.present: set[str] = set()
        self.synced = False  # the first list arrived
        self._changed = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._follow())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def _see(self, kind: str, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        if kind == "DELETED":
            self.present.discard(name)
        else:
            self.present.add(name)
            if is_ready(obj):
                self.ready_at.setdefault(name, time.monotonic())
        self._changed.set()

    async def _follow(self) -> None:
        while True:
            try:
                items, version = await self.kube.list_with_version()
                self.present = set()
                for obj in items:
                    self._see("ADDED", obj)
                self.synced = True
                self._changed.set()
                async for kind, obj in self.kube.watch(version):
                    if kind in ("ADDED", "MODIFIED", "DELETED"):
                        self._see(kind, obj)
                    elif kind == "ERROR":
                        break  # 410 Gone and the like: list again
            except (httpx.HTTPError, json.JSONDecodeError):
                await asyncio.sleep(0.2)

    async def until(self, done: Callable[[], bool], timeout: float) -> bool:
        """Wait until done() holds (checked after every change), or the timeout; returns done()."""
        deadline = time.monotonic() + timeout
        while not (self.synced and done()):
            self._changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 1.0))
        return True
