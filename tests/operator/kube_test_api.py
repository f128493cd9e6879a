"""
The tests' side of the Kubernetes API: what a user would do with kubectl, on kmock or on a real cluster.

It is built on the official sync client, so any kubeconfig auth works. Calls run in threads:
kmock serves on the test's own event loop, which a blocking call would freeze.
"""
from __future__ import (
    annotations,  # KubeTestApi.list shadows the builtin in annotations
)

import asyncio
import base64
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes
import yaml

Obj = dict[str, Any]

# Which Kubernetes API the operator tests run against (tests/operator/conftest.py): an existing
# cluster, a private control plane from envtest-style binaries, or (neither set) the kmock emulator.
TEST_KUBECONFIG = os.environ.get("LGCRON_TEST_KUBECONFIG") or None
KUBEBUILDER_ASSETS = os.environ.get("KUBEBUILDER_ASSETS") or None
REAL_CLUSTER = bool(TEST_KUBECONFIG or KUBEBUILDER_ASSETS)
# LGCRON_TEST_OPERATOR_RBAC=1 (a real cluster only): the operator runs as the manifests' ServiceAccount
# with the manifests' RBAC, not as the test's admin (the `operator` fixture); the tests' own calls stay admin.
OPERATOR_RBAC = REAL_CLUSTER and os.environ.get("LGCRON_TEST_OPERATOR_RBAC") == "1"

LGCRON_API_VERSION = "lgcron.io/v1alpha1"
LGCRON_KIND = "LangGraphCron"
LGCRON_PLURAL = "langgraphcrons"


def api_path(api_version: str, plural: str, namespace: str | None = None, name: str | None = None,
             subresource: str | None = None) -> str:
    """The URL path of a resource, e.g. ``api_path('batch/v1', 'jobs', 'ns')``."""
    parts = ["api" if "/" not in api_version else "apis", api_version,
             *(["namespaces", namespace] if namespace else []), plural, name, subresource]
    return "/" + "/".join(part for part in parts if part)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class KubeTestApi:
    """LangGraphCrons, Secrets and Events in one namespace; ``call`` reaches anything else."""

    def __init__(self, kubeconfig: str | Path, namespace: str) -> None:
        self.namespace = namespace
        self._client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))

    def close(self) -> None:
        self._client.close()

    def call_blocking(self, method: str, path: str, body: Any = None, *, query: dict[str, str] | None = None,
                      content_type: str = "application/json") -> Obj:
        """One API request; raises ``kubernetes.client.ApiException`` (or a subclass) on 4xx/5xx."""
        text = self.text_blocking(method, path, body, query=query, content_type=content_type)
        return json.loads(text) if text else {}

    def text_blocking(self, method: str, path: str, body: Any = None, *, query: dict[str, str] | None = None,
                      content_type: str = "application/json", accept: str = "application/json") -> str:
        """One API request's response body as text (e.g. ``/metrics``); errors as in ``call_blocking``."""
        headers = {"Accept": accept, "Content-Type": content_type}
        _, url, headers, body, _ = self._client.param_serialize(
            method, path, query_params=list((query or {}).items()), header_params=headers, body=body,
            auth_settings=["BearerToken"])
        response = self._client.call_api(method, url, header_params=headers, body=body)
        text = response.read().decode()
        if response.status >= 400:
            raise kubernetes.client.ApiException.from_response(http_resp=response, body=text, data=None)
        return text

    async def call(self, method: str, path: str, body: Any = None, *, query: dict[str, str] | None = None,
                   content_type: str = "application/json") -> Obj:
        return await asyncio.to_thread(self.call_blocking, method, path, body, query=query, content_type=content_type)

    def path(self, name: str | None = None, subresource: str | None = None) -> str:
        """The URL path of this namespace's LangGraphCrons, or of one of them."""
        return api_path(LGCRON_API_VERSION, LGCRON_PLURAL, self.namespace, name, subresource)

    async def create(self, body: Obj) -> Obj:
        return await self.call("POST", self.path(), {"apiVersion": LGCRON_API_VERSION, "kind": LGCRON_KIND, **body})

    async def get(self, name: str) -> Obj | None:
        try:
            return await self.call("GET", self.path(name))
        except kubernetes.client.ApiException as e:
            if e.status == 404:
                return None
            raise

    async def patch(self, name: str, merge_patch: Obj) -> Obj:
        return await self.call("PATCH", self.path(name), merge_patch, content_type="application/merge-patch+json")

    async def delete(self, name: str) -> None:
        await self.call("DELETE", self.path(name))

    async def list(self, label_selector: str | None = None) -> list[Obj]:
        query = {"labelSelector": label_selector} if label_selector else None
        return (await self.call("GET", self.path(), query=query))["items"]

    async def create_secret(self, name: str, data: dict[str, str]) -> Obj:
        # `data`, not `stringData`: the apiserver converts stringData on write, emulators may not.
        body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": "Opaque",
                "data": {key: b64(value) for key, value in data.items()}}
        return await self.call("POST", api_path("v1", "secrets", self.namespace), body)

    async def patch_secret(self, name: str, data: dict[str, str | None]) -> Obj:
        """Sets the given keys; a ``None`` value removes its key."""
        patch = {"data": {key: None if value is None else b64(value) for key, value in data.items()}}
        return await self.call("PATCH", api_path("v1", "secrets", self.namespace, name), patch,
                               content_type="application/merge-patch+json")

    async def delete_secret(self, name: str) -> None:
        await self.call("DELETE", api_path("v1", "secrets", self.namespace, name))

    async def events(self, involved_name: str) -> list[Obj]:
        query = {"fieldSelector": f"involvedObject.name={involved_name}"}
        return (await self.call("GET", api_path("v1", "events", self.namespace), query=query))["items"]

    async def wait_for(self, name: str, predicate: Callable[[Obj], Any], timeout: float = 30.0) -> Obj:
        """
        Poll the LangGraphCron until ``predicate(obj)`` is truthy; return the object.

        A KeyError/IndexError/TypeError from the predicate counts as "not yet",
        so it can look deep into a status that is not written yet.
        """
        obj: Obj | None = None
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            obj = await self.get(name)
            try:
                if obj is not None and predicate(obj):
                    return obj
            except (KeyError, IndexError, TypeError):
                pass
            await asyncio.sleep(0.1)
        raise AssertionError(f"{LGCRON_KIND} {self.namespace}/{name} did not satisfy the predicate within "
                             f"{timeout}s. Last seen:\n{json.dumps(obj, indent=2)}")

    async def wait_gone(self, name: str, timeout: float = 30.0) -> None:
        obj: Obj | None = None
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            if (obj := await self.get(name)) is None:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{LGCRON_KIND} {self.namespace}/{name} still exists after {timeout}s. "
                             f"Last seen:\n{json.dumps(obj, indent=2)}")


def ensure_crds(api: KubeTestApi, manifest: Path, timeout: float = 60.0) -> None:
    """Create or update the CRDs in the manifest, then wait until they are Established (real clusters)."""
    crds = [doc for doc in yaml.safe_load_all(manifest.read_text()) if doc and doc.get("kind") == "CustomResourceDefinition"]
    for crd in crds:
        path = api_path("apiextensions.k8s.io/v1", "customresourcedefinitions", name=crd["metadata"]["name"])
        try:
            existing = api.call_blocking("GET", path)
        except kubernetes.client.ApiException as e:
            if e.status != 404:
                raise
            api.call_blocking("POST", api_path("apiextensions.k8s.io/v1", "customresourcedefinitions"), crd)
        else:
            if not contains(existing.get("spec"), crd["spec"]):  # the server adds defaults to the spec
                crd = {**crd, "metadata": {**crd["metadata"], "resourceVersion": existing["metadata"]["resourceVersion"]}}
                api.call_blocking("PUT", path, crd)

        deadline = time.monotonic() + timeout
        while not any(c["type"] == "Established" and c["status"] == "True"
                      for c in (api.call_blocking("GET", path).get("status") or {}).get("conditions") or []):
            if time.monotonic() > deadline:
                raise TimeoutError(f"CRD {crd['metadata']['name']} is not Established after {timeout}s.")
            time.sleep(0.5)


def contains(actual: Any, expected: Any) -> bool:
    """Whether `actual` holds everything `expected` says (dicts by key, lists item by item)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(contains(actual.get(k), v) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(actual, list) and len(actual) == len(expected) and all(map(contains, actual, expected))
    return actual == expected
