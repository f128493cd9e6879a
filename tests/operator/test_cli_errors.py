"""Every `lgcron` command that touches a cluster or an Agent Server, from a laptop with only a
kubeconfig, against what goes wrong there: no kubeconfig, a kubeconfig without permissions, a key
Secret that cannot be read, the Kubernetes API or the Agent Server down, an unknown resource. Each
ends with exactly one line on stderr (`lgcron COMMAND: error: ...`), no traceback, and the exit
code of the one table (cli/errors.py).

No operator runs here: the status the operator would write (serverUrl, lastTrigger, paused) is
written by the test through the status subresource. Permissions are refused by the real
apiserver's RBAC (a service account's token) on a real control plane, and by an injected 403 on
the emulator (which has no authorization).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from kube_test_api import LGCRON_API_VERSION, REAL_CLUSTER, api_path
from langgraph_cron.clients.devserver import free_port
from operator_helpers import resource

pytestmark = [pytest.mark.operator, pytest.mark.timeout(120)]

USAGE, REFUSED, UNREACHABLE = 2, 3, 4
TRIGGER = "lgcron.io/trigger"


async def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, str, str]:
    """`python -m langgraph_cron.cli ARGS` with the test's environment minus LGCRON_* (a user's laptop),
    plus `env`. Awaited, so kmock keeps serving on this loop."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LGCRON_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "langgraph_cron.cli", *args, env={**environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout=timeout)
    return process.returncode, out.decode(), err.decode()


def assert_one_line_error(result: tuple[int, str, str], command: str, code: int, *words: str) -> None:
    returncode, out, err = result
    assert "Traceback" not in err, err
    assert err.count("\n") == 1 and err.startswith(f"lgcron {command}: error: "), err
    assert returncode == code, (returncode, out, err)
    for word in words:
        assert word in err, (word, err)


async def write_status(kube, name: str, status: dict) -> None:
    await kube.call("PATCH", kube.path(name, "status"), {"status": status},
                    content_type="application/merge-patch+json")


async def create_server(kube, name: str, url: str, secret: str | None = None) -> None:
    spec = {"url": url, **({"apiKeySecretRef": {"name": secret, "key": "apiKey"}} if secret else {})}
    await kube.call("POST", api_path(LGCRON_API_VERSION, "langgraphservers", kube.namespace),
                    {"apiVersion": LGCRON_API_VERSION, "kind": "LangGraphServer", "metadata": {"name": name},
                     "spec": spec})


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


@contextlib.asynccontextmanager
async def handled_triggers(kube, name: str, status: dict | None = None):
    """What the operator would do for `lgcron trigger --wait`: record the trigger's run in status."""
    async def handle() -> None:
        while True:
            obj = await kube.get(name)
            value = ((obj or {}).get("metadata", {}).get("annotations") or {}).get(TRIGGER)
            if value and ((obj.get("status") or {}).get("lastTrigger") or {}).get("value") != value:
                await write_status(kube, name, {"lastTrigger": {"value": value, **(status or {
                    "runId": str(uuid.uuid4()), "threadId": str(uuid.uuid4())})}})
            await asyncio.sleep(0.2)

    task = asyncio.create_task(handle())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def world(kube, agent_server):
    """default-cron: of the operator's default server (status.serverUrl only); ref-cron: names a
    LangGraphServer whose key Secret does not exist; down-cron: its default server does not answer."""
    await create_server(kube, "keyless", agent_server.url, secret="missing-key")
    await create_server(kube, "dead", dead_url())
    await kube.create(resource("default-cron"))
    await write_status(kube, "default-cron", {"serverUrl": agent_server.url})
    await kube.create(resource("ref-cron", serverRef={"name": "keyless"}))
    await write_status(kube, "ref-cron", {"serverUrl": agent_server.url, "serverRef": {"kind": "LangGraphServer",
                                                                                      "name": "keyless"}})
    await kube.create(resource("down-cron"))
    await write_status(kube, "down-cron", {"serverUrl": dead_url()})
    return kube.namespace


def commands(namespace: str, cron: str, server: str = "keyless") -> dict[str, list[str]]:
    ref = f"{namespace}/{cron}"
    return {
        "history": ["history", ref],
        "trigger": ["trigger", ref],
        "trigger --wait": ["trigger", ref, "--wait", "--timeout", "5"],
        "resume": ["resume", ref],
        "audit --server-ref": ["audit", "--server-ref", f"lgs/{namespace}/{server}", "--cluster", "cli-test"],
    }


ALL = ["history", "trigger", "trigger --wait", "resume", "audit --server-ref"]


# ---------------------------------------------------------------- no kubeconfig, an invalid one, the API down


@pytest.mark.parametrize("which", ALL)
async def test_no_kubeconfig_is_a_usage_error(world, which, tmp_path):
    args = commands(world, "default-cron")[which]
    result = await cli(*args, env={"KUBECONFIG": str(tmp_path / "nonexistent")})
    assert_one_line_error(result, args[0], USAGE, "no kubeconfig", "KUBECONFIG")


@pytest.mark.parametrize("which", ALL)
async def test_an_invalid_kubeconfig_is_a_usage_error(world, which, tmp_path):
    (tmp_path / "broken").write_text("kind: [unclosed\n")
    args = commands(world, "default-cron")[which]
    result = await cli(*args, env={"KUBECONFIG": str(tmp_path / "broken")})
    assert_one_line_error(result, args[0], USAGE, "invalid kubeconfig", "KUBECONFIG")


@pytest.mark.parametrize("which", ALL)
async def test_the_kubernetes_api_down_is_unreachable(world, which, tmp_path):
    path = tmp_path / "down.kubeconfig"
    server = dead_url()
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "down",
        "clusters": [{"name": "down", "cluster": {"server": server}}], "users": [{"name": "u", "user": {}}],
        "contexts": [{"name": "down", "context": {"cluster": "down", "user": "u"}}]}))
    args = commands(world, "default-cron")[which]
    result = await cli(*args, env={"KUBECONFIG": str(path)})
    assert_one_line_error(result, args[0], UNREACHABLE, f"cannot reach the Kubernetes API at {server}")


# ---------------------------------------------------------------- an unknown resource


@pytest.mark.parametrize("which", ALL)
async def test_an_unknown_resource_is_a_usage_error(world, which):
    args = commands(world, "no-such-cron", server="no-such-server")[which]
    result = await cli(*args)
    missing = f"LangGraphServer no-such-server in namespace {world}" if which.startswith("audit") else (
        f"LangGraphCron {world}/no-such-cron")
    assert_one_line_error(result, args[0], USAGE, missing, "not found")


# ---------------------------------------------------------------- a kubeconfig without permissions


async def restricted_kubeconfig(kube, kubeconfig_path: Path, tmp_path: Path, rules: list[dict]) -> Path:
    """A real apiserver's user that may do only `rules` in the test's namespace: a service account's token."""
    name = f"cli-user-{uuid.uuid4().hex[:6]}"
    ns = kube.namespace
    await kube.call("POST", api_path("v1", "serviceaccounts", ns), {"metadata": {"name": name}})
    rbac = "rbac.authorization.k8s.io/v1"
    await kube.call("POST", api_path(rbac, "roles", ns), {"metadata": {"name": name}, "rules": rules or []})
    await kube.call("POST", api_path(rbac, "rolebindings", ns), {
        "metadata": {"name": name}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}]})
    token = (await kube.call("POST", api_path("v1", "serviceaccounts", ns, name, "token"), {
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 3600}}
    ))["status"]["token"]
    config = yaml.safe_load(kubeconfig_path.read_text())
    config["users"] = [{"name": name, "user": {"token": token}}]
    for context in config["contexts"]:
        context["context"]["user"] = name
    path = tmp_path / f"{name}.kubeconfig"
    path.write_text(json.dumps(config))
    return path


@contextlib.asynccontextmanager
async def refused(request, kube, kubeconfig_path, tmp_path, *, rules: list[dict], emulated):
    """KUBECONFIG for a user limited to `rules`: real RBAC, or on the emulator a 403 for what `emulated`
    matches (it has no authorization of its own)."""
    if REAL_CLUSTER:
        yield {"KUBECONFIG": str(await restricted_kubeconfig(kube, kubeconfig_path, tmp_path, rules))}
        return
    emulator = request.getfixturevalue("kube_emulator")
    emulator.fail_requests(403, seconds=60, match=lambda r: emulated(str(r.url)))
    try:
        yield {}
    finally:
        emulator.heal()


@pytest.mark.parametrize("which", ALL)
async def test_a_kubeconfig_without_permissions_is_refused(world, which, request, kube, kubeconfig_path, tmp_path):
    args = commands(world, "default-cron")[which]
    async with refused(request, kube, kubeconfig_path, tmp_path, rules=[],
                       emulated=lambda url: "/apis/lgcron.io/" in url) as env:
        result = await cli(*args, env=env)
    resource = "langgraphservers" if which.startswith("audit") else "langgraphcrons"
    verb = "patch" if which == "trigger" else "get"
    assert_one_line_error(result, args[0], REFUSED, f"your kubeconfig may not {verb} {resource} in namespace {world}",
                          "RBAC")


# ---------------------------------------------------------------- a key Secret that cannot be read


@pytest.mark.parametrize("which", ["history", "trigger --wait", "audit --server-ref"])
async def test_a_missing_key_secret_is_refused(world, which, kube):
    args = commands(world, "ref-cron")[which]
    async with handled_triggers(kube, "ref-cron"):
        result = await cli(*args)
    assert_one_line_error(result, args[0], REFUSED, "cannot read the API key", f"Secret {world}/missing-key not found")
    if which == "trigger --wait":  # said before any run was started
        assert TRIGGER not in ((await kube.get("ref-cron"))["metadata"].get("annotations") or {})


@pytest.mark.parametrize("which", ["history", "trigger --wait", "audit --server-ref"])
async def test_a_forbidden_key_secret_is_refused_naming_what_to_grant(world, which, request, kube,
                                                                     kubeconfig_path, tmp_path):
    await kube.create_secret("forbidden-key", {"apiKey": "sk-test"})
    await kube.call("PATCH", api_path(LGCRON_API_VERSION, "langgraphservers", world, "keyless"),
                    {"spec": {"apiKeySecretRef": {"name": "forbidden-key", "key": "apiKey"}}},
                    content_type="application/merge-patch+json")
    rules = [{"apiGroups": ["lgcron.io"], "resources": ["langgraphcrons", "langgraphservers"],
              "verbs": ["get", "list", "patch"]}]
    args = commands(world, "ref-cron")[which]
    async with handled_triggers(kube, "ref-cron"):
        async with refused(request, kube, kubeconfig_path, tmp_path, rules=rules,
                           emulated=lambda url: "/secrets/" in url) as env:
            result = await cli(*args, env=env)
    assert_one_line_error(result, args[0], REFUSED, "Secret", "forbidden-key",
                          f"grants 'get' on secrets/forbidden-key in namespace {world}")


@pytest.mark.parametrize("which", ["trigger", "resume"])
async def test_commands_that_read_no_secret_do_not_need_one(world, which):
    code, out, err = await cli(*commands(world, "ref-cron")[which])
    assert (code, err) == (0, ""), out + err


# ---------------------------------------------------------------- the Agent Server down


@pytest.mark.parametrize("which", ["history", "trigger --wait", "audit --server-ref"])
async def test_the_agent_server_down_is_unreachable(world, which, kube):
    args = commands(world, "down-cron", server="dead")[which]
    async with handled_triggers(kube, "down-cron"):
        result = await cli(*args)
    assert_one_line_error(result, args[0], UNREACHABLE, "did not answer" if which != "audit --server-ref" else "127.0.0.1")


@pytest.mark.parametrize("which", ["trigger", "resume"])
async def test_commands_that_do_not_call_the_agent_server_work_while_it_is_down(world, which):
    code, out, err = await cli(*commands(world, "down-cron")[which])
    assert (code, err) == (0, ""), out + err


# ---------------------------------------------------------------- invalid settings


@pytest.mark.parametrize("which", ["history", "trigger --wait", "audit --server-ref"])
async def test_an_invalid_setting_is_a_usage_error_naming_it(world, which):
    args = commands(world, "default-cron")[which]
    result = await cli(*args, env={"LGCRON_REQUEST_TIMEOUT": "soon"})
    assert_one_line_error(result, args[0], USAGE, "LGCRON_REQUEST_TIMEOUT")
