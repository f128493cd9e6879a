"""
Proof of the operator-test fixtures: a tiny kopf operator's whole lifecycle, and the API semantics it needs.

Only the tests marked ``emulator_only`` (or using the emulator directly) look into kmock;
all the others use nothing but the Kubernetes API, so on a real cluster (KUBEBUILDER_ASSETS or LGCRON_TEST_KUBECONFIG)
they also show that the emulator behaves like the real apiserver.
"""
import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import kubernetes
import pytest
import sample_operator
from kopf.testing import KopfRunner
from kube_emulator import KubeEmulator
from kube_test_api import KubeTestApi, api_path

SPEC = {"schedule": "*/5 * * * *", "assistantId": "agent"}
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


def lgcron(name: str, finalizers: list[str] | None = None, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels, "finalizers": finalizers or []}, "spec": dict(SPEC)}


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := await check()) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return result


@pytest.fixture
async def sample_operator_running(run_operator) -> AsyncIterator[KopfRunner]:
    async with run_operator(registry=sample_operator.registry) as runner:
        yield runner


# The operator's lifecycle: runs on kmock and on a real cluster.

async def test_create_handler_writes_status(kube: KubeTestApi, sample_operator_running: KopfRunner) -> None:
    await kube.create(lgcron("one"))
    obj = await kube.wait_for("one", lambda o: o["status"]["observedGeneration"] == 1)
    assert obj["status"]["assistantId"] == "agent"
    assert obj["metadata"]["finalizers"] == ["sample.lgcron.io/finalizer"]


async def test_status_writes_do_not_bump_generation(kube: KubeTestApi, sample_operator_running: KopfRunner) -> None:
    await kube.create(lgcron("one"))
    obj = await kube.wait_for("one", lambda o: o["status"]["observedGeneration"] and o["status"]["lastSyncTime"])
    assert obj["metadata"]["generation"] == 1


async def test_spec_update_bumps_generation_and_reaches_the_handler(kube: KubeTestApi, sample_operator_running: KopfRunner) -> None:
    await kube.create(lgcron("one"))
    await kube.wait_for("one", lambda o: o["status"]["observedGeneration"] == 1)
    await kube.patch("one", {"spec": {"assistantId": "other"}})
    obj = await kube.wait_for("one", lambda o: o["status"]["observedGeneration"] == 2)
    assert obj["metadata"]["generation"] == 2
    assert obj["status"]["assistantId"] == "other"


async def test_delete_runs_the_handler_then_releases_the_finalizer(kube: KubeTestApi, sample_operator_running: KopfRunner) -> None:
    await kube.create(lgcron("one"))
    await kube.wait_for("one", lambda o: o["metadata"]["finalizers"])
    await kube.delete("one")
    await kube.wait_gone("one")
    assert f"{kube.namespace}/one" in sample_operator.deleted_names


async def test_timer_fires_repeatedly(kube: KubeTestApi, sample_operator_running: KopfRunner) -> None:
    await kube.create(lgcron("one"))
    first = (await kube.wait_for("one", lambda o: o["status"]["lastSyncTime"]))["status"]["lastSyncTime"]
    await kube.wait_for("one", lambda o: o["status"]["lastSyncTime"] != first, timeout=3 * sample_operator.TIMER_INTERVAL)


async def test_events_posted_by_the_operator_are_listed(kube: KubeTestApi, sample_operator_running: KopfRunner) -> None:
    uid = (await kube.create(lgcron("one")))["metadata"]["uid"]

    async def sample_created_events() -> list[dict[str, Any]]:
        return [e for e in await kube.events("one") if e["reason"] == "SampleCreated"]

    [event] = await eventually(sample_created_events)
    assert event["message"] == f"schedule {SPEC['schedule']}"
    assert event["involvedObject"]["kind"] == "LangGraphCron"
    assert event["involvedObject"]["uid"] == uid


async def test_many_objects_are_handled_and_deleted(kube: KubeTestApi, run_operator) -> None:
    names = [f"many-{i:03}" for i in range(200)]
    no_timer = {sample_operator.NO_TIMER: "yes"}

    async def all_handled() -> bool:
        objs = await kube.list()
        return len(objs) == len(names) and all(o.get("status", {}).get("observedGeneration") for o in objs)

    async def all_gone() -> bool:
        return not await kube.list()

    async with run_operator(registry=sample_operator.registry):
        started = time.monotonic()
        await asyncio.gather(*(kube.create(lgcron(name, **no_timer)) for name in names))
        assert await eventually(all_handled, timeout=60)
        handled = time.monotonic()
        await asyncio.gather(*(kube.delete(name) for name in names))
        assert await eventually(all_gone, timeout=60)
        deleted = time.monotonic()

    # Printed only now: while an operator runs, KopfRunner (click) captures this process's stdout.
    print(f"\n{len(names)} LangGraphCrons: created and handled in {handled - started:.1f}s, "
          f"deleted through the finalizer in {deleted - handled:.1f}s")
    assert deleted - started < 60  # only catches hangs and quadratic slowdowns
    assert {f"{kube.namespace}/{name}" for name in names} <= sample_operator.deleted_names


# The API semantics that kopf and the tests rely on: no operator, also run on a real cluster.

async def test_json_patch_with_a_failed_test_op_is_422_and_changes_nothing(kube: KubeTestApi) -> None:
    await kube.create(lgcron("one"))
    ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": "1"},
           {"op": "add", "path": "/metadata/labels", "value": {"patched": "yes"}}]
    with pytest.raises(kubernetes.client.ApiException) as error:
        await kube.call("PATCH", kube.path("one"), ops, content_type=JSON_PATCH)
    assert error.value.status == 422
    assert "labels" not in (await kube.get("one"))["metadata"]


async def test_json_patch_with_a_passing_test_op_applies(kube: KubeTestApi) -> None:
    rv = (await kube.create(lgcron("one")))["metadata"]["resourceVersion"]
    ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": rv},
           {"op": "add", "path": "/metadata/finalizers", "value": ["test.lgcron.io/hold"]}]
    obj = await kube.call("PATCH", kube.path("one"), ops, content_type=JSON_PATCH)
    assert obj["metadata"]["finalizers"] == ["test.lgcron.io/hold"]
    assert obj["metadata"]["resourceVersion"] != rv
    assert obj["metadata"]["generation"] == 1


async def test_patch_with_a_stale_resource_version_is_409(kube: KubeTestApi) -> None:
    stale_rv = (await kube.create(lgcron("one")))["metadata"]["resourceVersion"]
    await kube.patch("one", {"spec": {"assistantId": "newer"}})
    with pytest.raises(kubernetes.client.ApiException) as error:
        await kube.patch("one", {"metadata": {"resourceVersion": stale_rv}, "spec": {"assistantId": "stale"}})
    assert error.value.status == 409
    assert (await kube.get("one"))["spec"]["assistantId"] == "newer"


async def test_status_is_written_only_through_the_status_subresource(kube: KubeTestApi) -> None:
    await kube.create({**lgcron("one"), "status": {"assistantId": "ignored on create"}})
    assert "status" not in await kube.get("one")

    unchanged = await kube.patch("one", {"status": {"assistantId": "ignored on the main resource"}})
    assert "status" not in unchanged

    status_patch = {"status": {"assistantId": "written"}, "spec": {"assistantId": "ignored on /status"}}
    obj = await kube.call("PATCH", kube.path("one", "status"), status_patch, content_type=MERGE_PATCH)
    assert obj["status"] == {"assistantId": "written"}
    assert obj["spec"]["assistantId"] == "agent"
    assert obj["metadata"]["generation"] == 1
    assert obj["metadata"]["resourceVersion"] != unchanged["metadata"]["resourceVersion"]


async def test_spec_changes_bump_generation_but_metadata_changes_do_not(kube: KubeTestApi) -> None:
    await kube.create(lgcron("one"))
    assert (await kube.patch("one", {"metadata": {"labels": {"a": "b"}}}))["metadata"]["generation"] == 1
    assert (await kube.patch("one", {"spec": {"assistantId": "other"}}))["metadata"]["generation"] == 2


async def test_list_filters_by_label_and_field_selectors(kube: KubeTestApi) -> None:
    await kube.create(lgcron("a", tier="gold", env="prod"))
    await kube.create(lgcron("b", tier="silver", env="prod"))
    await kube.create(lgcron("c", env="dev"))

    async def names(label_selector: str) -> list[str]:
        return sorted(obj["metadata"]["name"] for obj in await kube.list(label_selector))

    assert await names("env=prod") == ["a", "b"]
    assert await names("env==prod,tier!=gold") == ["b"]
    assert await names("tier in (gold, silver)") == ["a", "b"]
    assert await names("tier notin (gold)") == ["b", "c"]
    assert await names("tier") == ["a", "b"]
    assert await names("!tier") == ["c"]
    by_name = await kube.call("GET", kube.path(), query={"fieldSelector": "metadata.name=b"})
    assert [obj["metadata"]["name"] for obj in by_name["items"]] == ["b"]


async def test_deletion_waits_for_the_finalizers_to_be_removed(kube: KubeTestApi) -> None:
    await kube.create(lgcron("one", finalizers=["test.lgcron.io/hold"]))
    await kube.delete("one")
    obj = await kube.get("one")
    assert obj["metadata"]["deletionTimestamp"]
    assert obj["metadata"]["finalizers"] == ["test.lgcron.io/hold"]

    with pytest.raises(kubernetes.client.ApiException) as error:
        await kube.patch("one", {"metadata": {"finalizers": ["test.lgcron.io/hold", "test.lgcron.io/late"]}})
    assert error.value.status == 422

    await kube.patch("one", {"metadata": {"finalizers": None}})
    assert await kube.get("one") is None


async def test_generate_name_gives_distinct_names(kube: KubeTestApi) -> None:
    body = {"metadata": {"generateName": "generated-"}, "data": {"key": "value"}}
    created = [await kube.call("POST", api_path("v1", "configmaps", kube.namespace), body) for _ in range(10)]
    names = {obj["metadata"]["name"] for obj in created}
    assert len(names) == 10
    assert all(name.startswith("generated-") for name in names)


async def test_secrets_are_stored_as_base64_data(kube: KubeTestApi) -> None:
    def decoded(secret: dict[str, Any]) -> dict[str, str]:
        return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}

    await kube.create_secret("creds", {"apiKey": "first"})
    assert decoded(await kube.patch_secret("creds", {"apiKey": "second", "extra": "x"})) == {"apiKey": "second", "extra": "x"}
    assert decoded(await kube.patch_secret("creds", {"extra": None})) == {"apiKey": "second"}
    await kube.delete_secret("creds")

    body = {"metadata": {"name": "plain"}, "stringData": {"apiKey": "plain"}}
    secret = await kube.call("POST", api_path("v1", "secrets", kube.namespace), body)
    assert decoded(secret) == {"apiKey": "plain"} and "stringData" not in secret


# The emulator itself.

async def watch(emulator: KubeEmulator, path: str, **params: str) -> list[dict[str, Any]]:
    """All events of one watch request; it must end by itself (timeoutSeconds or an error)."""
    async with emulator.get(path, params={"watch": "true", **params}) as response:
        return [json.loads(line) for line in (await response.read()).splitlines() if line.strip()]


@pytest.mark.emulator_only(reason="it checks how kmock serves watches and its request log")
async def test_watch_resumes_after_a_resource_version_and_ends_after_its_timeout(
        kube: KubeTestApi, kube_emulator: KubeEmulator) -> None:
    since = (await kube.create(lgcron("a")))["metadata"]["resourceVersion"]
    await kube.create(lgcron("b", env="prod"))
    await kube.patch("a", {"spec": {"assistantId": "other"}})
    await kube.delete("b")

    events = await watch(kube_emulator, kube.path(), resourceVersion=since, timeoutSeconds="1")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]
    events = await watch(kube_emulator, kube.path(), resourceVersion=since, timeoutSeconds="1", labelSelector="env=prod")
    assert [e["type"] for e in events] == ["ADDED", "DELETED"]
    events = await watch(kube_emulator, kube.path(), timeoutSeconds="1")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "a")]


@pytest.mark.emulator_only(reason="it checks how kmock serves watches and its request log")
async def test_watch_from_a_forgotten_resource_version_is_410_gone(kube: KubeTestApi, kube_emulator: KubeEmulator) -> None:
    kube_emulator.change_history = 4
    for i in range(6):
        await kube.create(lgcron(f"obj-{i}"))
    [event] = await watch(kube_emulator, kube.path(), resourceVersion="1")
    assert event["type"] == "ERROR"
    assert event["object"]["code"] == 410


@pytest.mark.emulator_only(reason="it checks how kmock serves watches and its request log")
async def test_request_log_stays_short(kube: KubeTestApi, kube_emulator: KubeEmulator) -> None:
    kube_emulator.request_history = 10
    for _ in range(30):
        await kube.list()
    assert len(kube_emulator) <= 10
