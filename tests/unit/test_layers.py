"""The package's layers, checked by folder: imports run one way, cli/controller -> engine -> clients
-> core; only the controller imports kopf; importing the core (or asking the CLI for --help) loads
no kopf; and no module or class grows past the size a newcomer can read in one go."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "langgraph_cron"

# What each folder may not import (a prefix matches the module and its submodules).
FORBIDDEN = {
    "core": {"kopf", "kubernetes", "httpx", "aiohttp", "prometheus_client", "langgraph_cron.clients",
             "langgraph_cron.engine", "langgraph_cron.controller", "langgraph_cron.cli"},
    "clients": {"kopf", "langgraph_cron.engine", "langgraph_cron.controller", "langgraph_cron.cli"},
    "engine": {"kopf", "langgraph_cron.controller", "langgraph_cron.cli"},
    "cli": {"kopf"},  # `lgcron run` reaches kopf through langgraph_cron.controller, imported when it runs
    "controller": {"langgraph_cron.cli"},
}
# The models are the schema of three CRDs: one file keeps them, and their order, readable together.
LONG_MODULES_ALLOWED = {"core/models.py"}
MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 300


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            # `from langgraph_cron import engine` imports the engine too.
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _layer(path: Path) -> str | None:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else None


def test_every_module_sits_in_a_layer():
    loose = [p.name for p in modules() if _layer(p) is None and p.name != "__init__.py"]
    assert not loose, f"modules outside core/, clients/, engine/, controller/ and cli/: {loose}"
    assert {_layer(p) for p in modules()} - {None} == set(FORBIDDEN)


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_imports_run_one_way(layer):
    offending = {}
    for path in modules():
        if _layer(path) != layer:
            continue
        bad = {name for name in imported_modules(path) for banned in FORBIDDEN[layer]
               if name == banned or name.startswith(banned + ".")}
        if bad:
            offending[str(path.relative_to(PACKAGE))] = sorted(bad)
    assert not offending, f"{layer}/ imports what its layer may not: {offending}"


def test_the_package_itself_imports_nothing():
    assert imported_modules(PACKAGE / "__init__.py") == set()


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint(' '.join(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True).stdout.split()
    return set(out)


def test_importing_the_core_loads_no_kopf_http_or_kubernetes():
    core = [f"langgraph_cron.core.{p.stem}" for p in modules() if _layer(p) == "core" and p.stem != "__init__"]
    loaded = _loaded_after("\n".join(f"import {name}" for name in core))
    heavy = {name for name in loaded if name.split(".")[0] in {"kopf", "kubernetes", "httpx", "aiohttp"}}
    assert not heavy, f"importing the core loaded {sorted(heavy)[:10]}"
    assert not any(name.startswith("langgraph_cron.controller") for name in loaded)


def test_cli_help_loads_no_kopf():
    loaded = _loaded_after(
        "import contextlib, io\nfrom langgraph_cron.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n    main(['--help'])"
    )
    assert "kopf" not in loaded
    assert not any(name.startswith("langgraph_cron.controller") for name in loaded)


def test_the_operator_loads_no_langgraph():
    """`lgcron run` builds the whole parser: a command module that imports the demo graph (langgraph,
    langsmith: ~33 MB of RSS) would load it into the operator."""
    loaded = _loaded_after("from langgraph_cron.cli import build_parser\nbuild_parser()\n"
                           "import langgraph_cron.controller")
    heavy = {name.split(".")[0] for name in loaded} & {"langgraph", "langsmith", "langchain_core", "kubernetes"}
    assert not heavy, f"the operator loads {sorted(heavy)}"


def test_no_module_is_too_long():
    long = {str(p.relative_to(PACKAGE)): n for p in modules()
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
            and str(p.relative_to(PACKAGE)) not in LONG_MODULES_ALLOWED}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_no_class_is_too_long():
    long = {}
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > MAX_CLASS_LINES:
                long[f"{path.relative_to(PACKAGE)}:{node.name}"] = node.end_lineno - node.lineno + 1
    assert not long, f"classes over {MAX_CLASS_LINES} lines: {long}"
