"""LGCRON_TEST_OPERATOR_RBAC=1 (CI's real-control-plane pass): the operator really runs as the manifests'
ServiceAccount, so the rest of tests/operator judges the shipped RBAC, not an admin's."""

from __future__ import annotations

import os
from pathlib import Path

import kubernetes
import pytest
from kube_test_api import OPERATOR_RBAC, KubeTestApi, api_path
from operator_helpers import is_ready, resource

pytestmark = [pytest.mark.operator, pytest.mark.skipif(
    not OPERATOR_RBAC, reason="runs with LGCRON_TEST_OPERATOR_RBAC=1 on a real cluster only (CI's part 2 sets it)")]


async def test_the_operator_runs_as_the_manifests_service_account(kube, operator, kubeconfig_path):
    async with operator():
        operator_kubeconfig = Path(os.environ["KUBECONFIG"])
        assert operator_kubeconfig != Path(kubeconfig_path)
        as_operator = KubeTestApi(operator_kubeconfig, kube.namespace)
        try:
            with pytest.raises(kubernetes.client.ApiException) as refused:  # Secrets: get by name only
                await as_operator.call("GET", api_path("v1", "secrets", kube.namespace))
            assert refused.value.status == 403
            assert "system:serviceaccount:lgcron-system:langgraph-cron-operator" in refused.value.body
        finally:
            as_operator.close()
        await kube.create(resource("as-its-account"))
        await kube.wait_for("as-its-account", is_ready)
