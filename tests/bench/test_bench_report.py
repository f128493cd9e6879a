"""The benchmark still runs end to end and its report still measures what the README says.

It runs on the Kubernetes API the environment selects, as the operator tests do: the kmock
emulator, or with KUBEBUILDER_ASSETS a private real control plane (`.ci/run`'s second pass).

Speed figures are not asserted (they come from `python -m bench --resources 1000` run by hand, see
the README); what is asserted is what must hold at any size: one server request per resource, no
status writes in steady state, a resync pass within its request budget, nothing left after deletion.
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


@pytest.fixture(scope="module")
def report() -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LGCRON_")}
    # Resync every 3 s: the bench tells passes apart by a second of quiet between them.
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--resources", str(N), "--resync-interval", "3", "--concurrency", "4",
         "--timeout", "90"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, f"bench failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


@pytest.mark.agent_server
@pytest.mark.operator
def test_every_resource_becomes_ready_with_one_server_request(report: str) -> None:
    assert re.search(r"all Ready \(Ready=True, observedGeneration=generation\) [\d.]+ s after the first create", report)
    assert f"Agent Server requests until all Ready: {N} (1.00 per resource)" in report
    assert re.search(rf"POST /runs/crons +{N}\n", report)
    assert f"baseline: plain httpx, a sequential loop: {N} x POST /runs/crons" in report
    assert f"baseline: plain httpx, 4 concurrent: {N} x POST /runs/crons" in report


@pytest.mark.agent_server
@pytest.mark.operator
def test_it_runs_on_the_kubernetes_api_the_environment_selects(report: str) -> None:
    if os.environ.get("KUBEBUILDER_ASSETS"):
        assert "Kubernetes: private control plane from KUBEBUILDER_ASSETS (etcd, kube-apiserver" in report
        assert re.search(r"CPU seconds in [\d.]+ s wall: .*etcd [\d.]+, kube-apiserver [\d.]+", report)
        assert re.search(r"PATCH langgraphcrons/status +\d+\n", report), "apiserver_request_total was not read"
    else:
        assert "Kubernetes: kmock emulator" in report


@pytest.mark.agent_server
@pytest.mark.operator
def test_steady_state_costs_one_search_page_and_writes_nothing(report: str) -> None:
    assert "3 resync passes seen" in report
    # N is below the search page size (1000): one short page ends the search.
    assert re.search(r"PASS +steady-state requests per pass <= 2 +1\.0\n", report)
    assert re.search(r"POST /runs/crons/search +3\n", report)
    assert f"status writes: none (0 of {N} resourceVersions changed)" in report


@pytest.mark.agent_server
@pytest.mark.operator
def test_deletion_leaves_no_cron(report: str) -> None:
    assert re.search(rf"deletion: {N} deleted \(4 concurrent\) and gone in [\d.]+ s; crons left on the server: 0", report)
    assert re.search(rf"DELETE /runs/crons/\{{id\}} +{N}\n", report)
    # The operator made or checked each cron itself: one DELETE each, no uid search first.
    assert re.search(r"PASS +Agent Server requests per deleted resource <= 2 +1\.\d\d\n", report)


@pytest.mark.agent_server
@pytest.mark.operator
def test_report_has_every_target_row(report: str) -> None:
    for row in ("all Ready time / sequential httpx loop <= 3", "all Ready within 0.36 s (30 s per 1000)",
                "operator peak RSS <= 150 MB", "no RSS growth over 3 passes", "steady-state requests per pass <= 2",
                "steady-state status writes == 0", "Agent Server requests per deleted resource <= 2"):
        assert re.search(rf"(PASS|FAIL) +{re.escape(row)}", report), row


def test_paced_creation_starts_no_sooner_than_its_rate_allows() -> None:
    """`--rate R`: the i-th create starts i/R s after the first, whatever the concurrency."""
    import asyncio
    import time

    from bench.__main__ import bounded

    starts: dict[int, float] = {}

    async def record(item: int) -> None:
        starts[item] = time.monotonic()

    async def main() -> None:
        await bounded(4, range(6), record, rate=50.0)

    asyncio.run(main())
    assert sorted(starts) == list(range(6))
    for i, start in starts.items():
        assert start - starts[0] >= i / 50.0 - 0.005, (i, start - starts[0])
