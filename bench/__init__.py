"""Scale benchmark of the operator: `python -m bench --resources 1000` (run by hand, it prints a report).

It starts the real in-memory Agent Server, a Kubernetes API (`--kube`: a private etcd +
kube-apiserver + kube-controller-manager from KUBEBUILDER_ASSETS, the default when it is set; the
kmock emulator in this process; or the cluster in KUBECONFIG) and `lgcron run` as a separate
process, then measures: time until N LangGraphCrons are Ready, create-to-Ready latency, Agent Server
and Kubernetes API requests, CPU seconds of every process, the operator's RSS, the steady-state
resync cost, deletion, and plain-httpx baselines (a sequential loop, and the bench's concurrency).
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# tests/operator holds the emulator (kube_emulator.py) and the test-side Kubernetes helpers (kube_test_api.py: not named kube, which the package has).
for _path in (ROOT / "operator", ROOT / "tests" / "operator"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
