"""examples/: one file per feature, each admitted by a real apiserver and passed by `lgcron validate`.

On a real API (KUBEBUILDER_ASSETS or LGCRON_TEST_KUBECONFIG) every document of every example is
created with dry-run, as `kubectl apply --dry-run=server` sends it (strict field validation): the
CRDs' schema and CEL rules must admit it. Namespaced documents go into the test's namespace,
cluster-scoped ones get a name of their own (nothing is stored either way). The kmock emulator
knows no schema, so there that part skips; the `lgcron validate` part runs everywhere.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml
from kube_test_api import REAL_CLUSTER, KubeTestApi, api_path, contains
from langgraph_cron.core.files import validate
from langgraph_cron.core.manifests import read_documents

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# The feature examples are the YAML files at the top of examples/ (a subfolder, such as a kustomize
# overlay, is not a set of plain manifests).
FILES = sorted(EXAMPLES.glob("*.yaml"))

# The feature each file shows, and how to tell it does.
FEATURES = {
    "server-objects.yaml": lambda docs: (
        {"LangGraphServer", "ClusterLangGraphServer"} <= {d["kind"] for d in docs}
        and any(d["kind"] == "ClusterLangGraphServer" and d["spec"].get("conditions") for d in docs)
        and {"LangGraphServer", "ClusterLangGraphServer"} <= {
            d["spec"]["serverRef"].get("kind", "LangGraphServer") for d in docs if "serverRef" in d.get("spec", {})}),
    "thread-cron.yaml": lambda docs: any(d["spec"].get("threadId") for d in crons(docs)),
    "failure-policy.yaml": lambda docs: any(
        (d["spec"].get("failurePolicy") or {}).get("pauseAfterConsecutiveFailures") for d in crons(docs)),
    "run-budget.yaml": lambda docs: any(d["spec"].get("maxRuns") for d in crons(docs)),
    "spread-schedule.yaml": lambda docs: any("H" in d["spec"]["schedule"].split()[:2] for d in crons(docs)),
    "run-deadline.yaml": lambda docs: any(d["spec"].get("runTimeoutSeconds") for d in crons(docs)),
    "cronjob-backend.yaml": lambda docs: any(d["spec"].get("backend") == "cronJob" for d in crons(docs)),
}


class KubectlLoader(yaml.SafeLoader):
    """YAML as kubectl reads it: an unquoted timestamp (endTime) stays the string it is written as."""


KubectlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.load_all(path.read_text(), Loader=KubectlLoader) if doc]


def crons(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d.get("kind") == "LangGraphCron"]


@pytest.mark.parametrize("name", sorted(FEATURES))
def test_each_feature_has_its_example_file_saying_what_it_shows(name):
    path = EXAMPLES / name
    assert path.exists(), f"examples/{name} is missing"
    assert path.read_text().startswith("# "), f"examples/{name} should open with comments saying what it shows"
    assert FEATURES[name](documents(path)), f"examples/{name} does not show its feature"


def test_lgcron_validate_passes_every_example():
    report, errors = validate([EXAMPLES])
    assert errors == []
    # Every lgcron.io object of every file is reported ok, once (other kinds are skipped).
    expected = {f"{d.where}: {d.kind} {d.object_name}: ok" for d in read_documents([EXAMPLES])
                if d.api_version.startswith("lgcron.io/")}
    assert {line.split(": ok ", 1)[0] + ": ok" for line in report} == expected
    assert len(report) == len(expected) >= len(FEATURES)

    env = {k: v for k, v in os.environ.items() if not k.startswith("LGCRON_")}
    cli = subprocess.run([sys.executable, "-m", "langgraph_cron.cli", "validate", "-f", str(EXAMPLES)],
                         capture_output=True, text=True, timeout=60, env=env, check=False)
    assert cli.returncode == 0, cli.stdout + cli.stderr


async def _resource(kube: KubeTestApi, api_version: str, kind: str, cache: dict[str, Any]) -> tuple[str, bool]:
    """(plural, namespaced) of a kind, from the apiserver's discovery, as kubectl finds it."""
    if api_version not in cache:
        cache[api_version] = await kube.call("GET", f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}")
    for resource in cache[api_version]["resources"]:
        if resource["kind"] == kind and "/" not in resource["name"]:
            return resource["name"], resource["namespaced"]
    raise AssertionError(f"the apiserver serves no {kind} in {api_version}")


@pytest.mark.skipif(not REAL_CLUSTER, reason="kmock has no schema or CEL rules to admit or refuse with: "
                                             "set KUBEBUILDER_ASSETS (or LGCRON_TEST_KUBECONFIG) for the dry-run")
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
async def test_every_document_is_admitted_by_the_apiserver_with_dry_run_server(path, kube):
    discovery: dict[str, Any] = {}
    refused = {}
    docs = documents(path)
    assert docs, f"{path.name} holds no documents"
    for index, original in enumerate(docs, start=1):
        doc = copy.deepcopy(original)
        plural, namespaced = await _resource(kube, doc["apiVersion"], doc["kind"], discovery)
        if namespaced:
            doc["metadata"]["namespace"] = kube.namespace
        else:  # one name per test run: the cluster may hold an object of the example's name
            doc["metadata"]["name"] = f"{kube.namespace}-{doc['metadata']['name']}"
        target = api_path(doc["apiVersion"], plural, kube.namespace if namespaced else None)
        try:
            created = await kube.call("POST", target, doc, query={"dryRun": "All", "fieldValidation": "Strict"})
        except kubernetes.client.ApiException as exc:
            refused[f"{path.name}:{index} {doc['kind']} {doc['metadata']['name']}"] = f"{exc.status}: {exc.body}"
            continue
        # Admitted as written: what the apiserver would store still holds every field of the example.
        assert created["kind"] == doc["kind"] and contains(created.get("spec"), doc.get("spec")), json.dumps(created)
    assert not refused, "\n".join(f"{where}: {why}" for where, why in refused.items())
    # Nothing was stored.
    assert await kube.list() == []


