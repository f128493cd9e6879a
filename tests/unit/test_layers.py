"""Imports flow one way: handlers -> service -> reconcile -> models/schedule. The pure layer
must stay importable and testable without Kubernetes or HTTP."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "langgraph_cron"

PURE_MODULES = ["models", "schedule", "reconcile", "crd", "settings"]
FORBIDDEN_IN_PURE = {"kopf", "kubernetes", "httpx", "langgraph_cron.handlers", "langgraph_cron.service",
                     "langgraph_cron.agent_server", "langgraph_cron.kube"}


def imported_modules(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_modules_import_no_io_layer(module):
    imports = imported_modules(module)
    offending = {name for name in imports for banned in FORBIDDEN_IN_PURE if name == banned or name.startswith(banned + ".")}
    assert not offending, f"langgraph_cron.{module} imports {sorted(offending)}"


def test_service_does_not_import_kopf():
    assert not {n for n in imported_modules("service") if n.split(".")[0] == "kopf"}
