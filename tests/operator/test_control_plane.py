"""The private control plane (control_plane.py) never outlives its tests: stopped, Ctrl-C, kill -9.

These start their own control planes from KUBEBUILDER_ASSETS (about 5 s each), so they run only
where the assets are.
"""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from control_plane import ControlPlane
from kube_test_api import KUBEBUILDER_ASSETS, KubeTestApi, api_path

pytestmark = pytest.mark.skipif(not KUBEBUILDER_ASSETS, reason="needs KUBEBUILDER_ASSETS (etcd and kube-apiserver binaries)")
HERE = Path(__file__).resolve().parent

STARTER = textwrap.dedent("""
    import signal, sys, time
    # Ctrl-C raises KeyboardInterrupt here even if the process that started this one ignored
    # SIGINT (an ignored signal stays ignored across exec, and Python then keeps it so).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.path.insert(0, {here!r})
    from control_plane import ControlPlane
    try:
        with ControlPlane.from_assets({assets!r}) as cp:
            print(" ".join(str(pid) for pid in cp.pids().values()), cp.workdir, flush=True)
            time.sleep(600)
    except KeyboardInterrupt:
        print("stopped after Ctrl-C", file=sys.stderr, flush=True)
""")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is dead, only not yet reaped
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


def wait_dead(pids: list[int], timeout: float = 30) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := [pid for pid in pids if alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def test_it_serves_the_api_with_a_working_garbage_collector(tmp_path: Path) -> None:
    if ControlPlane.from_assets(KUBEBUILDER_ASSETS, workdir=tmp_path).binary("kube-controller-manager") is None:
        pytest.skip("no kube-controller-manager in KUBEBUILDER_ASSETS (setup-envtest ships none): no garbage collector")
    with ControlPlane.from_assets(KUBEBUILDER_ASSETS) as cp:
        api = KubeTestApi(cp.kubeconfig, "default")
        try:
            owner = api.call_blocking("POST", api_path("v1", "configmaps", "default"), {"metadata": {"name": "owner"}})
            ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
            api.call_blocking("POST", api_path("v1", "configmaps", "default"),
                           {"metadata": {"name": "owned", "ownerReferences": [ref]}})
            api.call_blocking("DELETE", api_path("v1", "configmaps", "default", "owner"))
            names: set[str] = {"owned"}
            deadline = time.monotonic() + 30
            while "owned" in names and time.monotonic() < deadline:
                time.sleep(0.3)
                names = {o["metadata"]["name"] for o in (api.call_blocking("GET", api_path("v1", "configmaps", "default")))["items"]}
            assert "owned" not in names, "kube-controller-manager's garbage collector did not delete the owned object"
        finally:
            api.close()
        pids, workdir = list(cp.pids().values()), cp.workdir
        assert len(pids) == 3
    assert not wait_dead(pids, timeout=1)
    assert not workdir.exists()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill-9"])
def test_its_processes_end_with_the_process_that_started_them(stop: signal.Signals) -> None:
    starter = subprocess.Popen([sys.executable, "-c", STARTER.format(here=str(HERE), assets=KUBEBUILDER_ASSETS)],
                               stdout=subprocess.PIPE, text=True)
    try:
        *pids, workdir = starter.stdout.readline().split()
        pids = [int(pid) for pid in pids]
        assert len(pids) >= 2 and all(alive(pid) for pid in pids)  # etcd, kube-apiserver (+ controller manager)
        starter.send_signal(stop)
        try:
            starter.wait(90)  # a clean stop gives each process 15 s to exit before killing it
        except subprocess.TimeoutExpired:
            pytest.fail(f"the starter did not exit within 90 s of {stop.name}; of its processes "
                        f"{[pid for pid in pids if alive(pid)]} of {pids} were still running")
        assert not wait_dead(pids), f"still running after the starter got {stop.name}"
        if stop == signal.SIGINT:  # a clean stop also removes the data and keys
            assert not Path(workdir).exists()
    finally:
        starter.kill()
        starter.wait()
