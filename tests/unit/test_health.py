"""/healthz (controller/health.py) answers 200 only while the Kubernetes API answers the operator, and
start-up stops on a cluster id it cannot read (controller/startup.py): no Kubernetes, fakes only.
The same end to end, in the image against a real apiserver: tests/packaging/test_image.py."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace

import aiohttp
import kopf
import pytest
from kopf._core.engines import indexing, probing
from langgraph_cron.clients.devserver import free_port
from langgraph_cron.clients.kube import KubernetesApiError
from langgraph_cron.controller import health, startup


class FakeKube:
    """api_group() and get_namespace() as the operator's KubeClient answers them, or fails them."""

    def __init__(self) -> None:
        self.error: Exception | None = None
        self.delay = 0.0
        self.namespace: dict | None = {"metadata": {"name": "kube-system", "uid": "0b1c2d3e-kube-system"}}
        self.calls = 0

    async def api_group(self) -> dict:
        self.calls += 1
        await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return {"kind": "APIResourceList"}

    async def get_namespace(self, name: str) -> dict | None:
        if self.error is not None:
            raise self.error
        return self.namespace


def no_answer() -> KubernetesApiError:
    return KubernetesApiError("GET", "/apis/lgcron.io/v1alpha1", 0, "ClientConnectorError: Connection refused")


# ---------------------------------------------------------------- the probe


async def test_the_probe_passes_while_the_api_answers():
    assert await health.check_api(FakeKube()) == "connected"


@pytest.mark.parametrize("error", [
    no_answer(),
    KubernetesApiError("GET", "/apis/lgcron.io/v1alpha1", 401, '{"message": "Unauthorized"}'),
    KubernetesApiError("GET", "/apis/lgcron.io/v1alpha1", 503, '{"message": "etcd not ready"}'),
])
async def test_the_probe_fails_at_once_when_the_api_refuses_or_does_not_answer(error):
    kube = FakeKube()
    kube.error = error
    with pytest.raises(health.ApiUnreachable) as failed:
        await health.check_api(kube)
    assert isinstance(failed.value, kopf.PermanentError)  # never retried with backoff while kubelet waits
    assert str(error) in str(failed.value)


async def test_an_api_that_hangs_fails_the_probe_within_its_timeout():
    kube = FakeKube()
    kube.delay = 30
    started = time.monotonic()
    with pytest.raises(health.ApiUnreachable, match="did not answer within 0.2s"):
        await health.check_api(kube, timeout=0.2)
    assert time.monotonic() - started < 2


# ---------------------------------------------------------------- through kopf's liveness endpoint


@contextlib.asynccontextmanager
async def liveness_endpoint(kube: FakeKube) -> AsyncIterator[str]:
    """kopf's health reporter with only the operator's probe registered, as `lgcron run --liveness URL`."""
    registry = kopf.OperatorRegistry()
    kopf.on.probe(id="kubernetes-api", registry=registry)(health.kubernetes_api)
    url, ready = f"http://127.0.0.1:{free_port()}/healthz", asyncio.Event()
    task = asyncio.create_task(probing.health_reporter(
        url, memo=kopf.Memo(runtime=SimpleNamespace(kube=kube)), indices=indexing.OperatorIndexers().indices,
        registry=registry, settings=kopf.OperatorSettings(), ready_flag=ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        yield url
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_healthz_is_500_while_the_api_is_unreachable_and_200_once_it_answers(caplog):
    kube = FakeKube()
    kube.error = no_answer()
    async with liveness_endpoint(kube) as url, aiohttp.ClientSession() as http:
        for _ in range(2):  # a failure is not cached: every probe asks again
            async with http.get(url) as response:
                assert response.status == 500
        assert kube.calls == 2
        kube.error = None
        async with http.get(url) as response:
            assert response.status == 200
            assert await response.json() == {"kubernetes-api": "connected"}
    # One line from kopf per failed probe; no traceback from aiohttp for it.
    assert not [r for r in caplog.records if r.name == "aiohttp.server"]
    assert any("kubernetes-api" in r.getMessage() and "Connection refused" in r.getMessage()
               for r in caplog.records if r.levelno == logging.ERROR)


# ---------------------------------------------------------------- the cluster id


async def test_the_cluster_id_is_kube_systems_uid():
    assert await startup.read_cluster_id(FakeKube()) == "0b1c2d3e-kube-system"


@pytest.mark.parametrize(("error", "status"), [
    (KubernetesApiError("GET", "/api/v1/namespaces/kube-system", 403, '{"message": "namespaces is forbidden"}'), 403),
    (no_answer(), 0),
    (None, 404),  # kube-system does not exist
])
async def test_an_unreadable_cluster_id_stops_start_up_with_one_line(error, status):
    kube = FakeKube()
    kube.error, kube.namespace = error, None
    with pytest.raises(startup.ClusterIdUnreadable) as failed:
        await startup.read_cluster_id(kube)
    message = str(failed.value)
    assert failed.value.status == status
    assert isinstance(failed.value, kopf.PermanentError)  # kopf does not retry the start-up forever
    assert "\n" not in message and "cluster id" in message and "LGCRON_CLUSTER_ID" in message
    assert "unknown" not in message
