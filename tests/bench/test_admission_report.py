"""`python -m bench --admission` still runs end to end at a small N and reports what the README says.

A real kube-apiserver only: kmock has no admission chain (nothing calls a webhook). With
LGCRON_TEST_KUBECONFIG the bench runs on that cluster (`--kube kubeconfig`; its apiserver must reach
127.0.0.1, as for tests/operator/test_admission.py), else on a private control plane from
KUBEBUILDER_ASSETS.

No latency is asserted (timing flakes; the figures come from runs at N=200 by hand, see the README):
what is asserted is the report's structure and what must hold at any size: every apply created and
Ready in both runs, the webhook configured before measuring, every invalid dry-run refused by the
webhook with the InvalidSpec sentence while on and admitted while off, and the apiserver's count of
webhook calls matching the applies.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
N = 12
TEST_KUBECONFIG = os.environ.get("LGCRON_TEST_KUBECONFIG") or None
KUBEBUILDER_ASSETS = os.environ.get("KUBEBUILDER_ASSETS") or None
MS = r"[\d.]+ ms"
SPREAD = rf"p50 {MS}, p99 {MS}, max {MS}"

pytestmark = [
    pytest.mark.agent_server,
    pytest.mark.operator,
    pytest.mark.skipif(not (TEST_KUBECONFIG or KUBEBUILDER_ASSETS),
                       reason="needs a real kube-apiserver (KUBEBUILDER_ASSETS or LGCRON_TEST_KUBECONFIG): "
                              "kmock has no admission chain"),
]


@pytest.fixture(scope="module")
def report() -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LGCRON_")}
    command = [sys.executable, "-m", "bench", "--admission", "--resources", str(N), "--timeout", "90"]
    if TEST_KUBECONFIG:  # it wins over KUBEBUILDER_ASSETS, as in tests/operator/conftest.py
        env["KUBECONFIG"] = TEST_KUBECONFIG
        command += ["--kube", "kubeconfig"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, f"bench --admission failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def section(report: str, title: str) -> str:
    """One run's part of the report: from its title line to the next blank line."""
    found = re.search(rf"^{title}: namespace \S+\n(.*?)\n\n", report, re.DOTALL | re.MULTILINE)
    assert found, f"no {title!r} section in:\n{report}"
    return found.group(1)


def test_both_runs_create_and_ready_every_apply_and_report_the_latencies(report: str) -> None:
    for title in ("webhook off", "webhook on"):
        part = section(report, title)
        assert re.search(rf"{N} valid applies, one at a time, in [\d.]+ s \(\d+/s\): {N} created\n", part), part
        assert "FAILED" not in part, part
        assert re.search(rf"apply latency \(POST create, fieldValidation=Strict\): {SPREAD}\n", part), part
        assert re.search(rf"apply->Ready \(start of the create to Ready=True seen by a watch\): {SPREAD} "
                         rf"\({N}/{N} Ready\)", part), part
        assert re.search(rf"dry-run latency: {SPREAD}\n", part), part


def test_the_webhook_is_configured_and_refuses_every_invalid_apply_only_while_on(report: str) -> None:
    off, on = section(report, "webhook off"), section(report, "webhook on")
    assert "operator without LGCRON_WEBHOOK_*" in off
    assert f"answers: admitted: {N}/{N}" in off, off
    assert re.search(r"configuration \S+: 3 webhooks \(.*\), failurePolicy Ignore, timeout 5 s; "
                     r"the webhook refused the probe", on), on
    assert f"answers: refused by the webhook with the InvalidSpec sentence: {N}/{N}\n" in on, on
    assert "refusal: spec.schedule: invalid cron expression '61 7 * * *'" in on, on


def test_the_apiserver_called_the_webhook_once_per_apply(report: str) -> None:
    on = section(report, "webhook on")
    # Each valid create, each refused dry-run, and the operator's finalizer patch of each object (an UPDATE
    # that leaves the spec alone: reviewed, admitted).
    assert re.search(rf"CREATE admitted {MS} x {N}; CREATE refused {MS} x {N}; UPDATE admitted {MS} x {N}", on), on


def test_report_has_the_cost_and_the_target_rows(report: str) -> None:
    for line in ("apply latency", "apply->Ready", "dry-run of the invalid spec (refused vs admitted)"):
        assert re.search(rf"^  {re.escape(line)}: p50 [-+][\d.]+ ms \({MS[:-3]} -> {MS[:-3]}\), "
                         rf"p99 [-+][\d.]+ ms", report, re.MULTILINE), line
    for p in (99, 50):
        assert re.search(rf"^  (met|MISSED) +valid cron Ready < 1 s after apply with the webhook on, p{p} +{MS}$",
                         report, re.MULTILINE), p
    assert re.search(rf"^  met +the webhook refused every invalid apply +{N}/{N}$", report, re.MULTILINE)
