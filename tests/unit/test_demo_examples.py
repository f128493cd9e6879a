"""The examples `lgcron demo` runs: packaged with lgcron (so it works from any directory), the same
files as the repository's examples/ (so the two cannot drift), and each one runnable in file mode."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from langgraph_cron.cli.demo import OPERATOR_ONLY, bundled_examples, runnable
from langgraph_cron.core.files import Document, load_documents

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
PACKAGED = ROOT / "operator" / "langgraph_cron" / "examples"


def packaged_files() -> list[Path]:
    return sorted(PACKAGED.glob("*.yaml"))


def test_the_demo_defaults_to_the_packaged_examples():
    assert bundled_examples().resolve() == PACKAGED.resolve()
    assert packaged_files(), "no packaged examples: `lgcron demo` outside the repository would have nothing to run"


@pytest.mark.parametrize("path", packaged_files(), ids=lambda p: p.name)
def test_each_packaged_example_is_the_repositorys_file_byte_for_byte(path):
    twin = EXAMPLES / path.name
    assert twin.exists(), f"{path.name} is packaged but not in examples/: add it there (the user-facing set) too"
    assert path.read_bytes() == twin.read_bytes(), (
        f"operator/langgraph_cron/examples/{path.name} differs from examples/{path.name}: copy one over the other")


def test_the_packaged_examples_run_in_file_mode_without_caveats():
    said: list[str] = []
    documents = load_documents([PACKAGED])
    assert runnable(documents, said.append) == documents
    assert said == [], "a packaged example the demo skips, or whose feature file mode does not enforce"
    for document in documents:
        assert not set(OPERATOR_ONLY) & set(document.body["spec"]), document.where
    keep = [d.name for d in documents if d.body["spec"].get("onRunCompleted") == "keep"]
    assert keep, "the demo waits for the first run of a cron with onRunCompleted: keep; none is packaged"


def test_on_the_whole_examples_folder_the_demo_says_what_it_skips_and_why():
    said: list[str] = []
    documents = load_documents([EXAMPLES])
    names = {d.name for d in runnable(documents, said.append)}
    skipped = {d.name: line for d in documents for line in said if line.startswith(f"skipping {d.where} ")}
    for document in documents:
        spec = document.body["spec"]
        if spec.get("backend") == "cronJob":
            assert "cronJob backend needs a Kubernetes cluster" in skipped[document.name]
        elif "serverRef" in spec:
            assert "server objects (spec.serverRef) live in Kubernetes" in skipped[document.name]
        else:
            assert document.name in names
    notes = [line for line in said if line.startswith("note: ")]
    for field in OPERATOR_ONLY:
        assert any(f"{field} is enforced by the operator's run-history pass, not by the demo" in line for line in notes), field


def test_the_demo_skips_a_cron_that_names_its_own_server():
    document = Document(Path("x.yaml"), 1, {"metadata": {"name": "elsewhere"},
                                            "spec": {"schedule": "@daily", "assistantId": "agent",
                                                     "server": {"url": "https://agents.example.com"}}})
    said: list[str] = []
    assert runnable([document], said.append) == []
    assert said == [("skipping x.yaml#1 (elsewhere): it names its own Agent Server (spec.server); "
                     "the demo runs crons on its local server only")]


def test_package_data_ships_the_examples():
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    patterns = package_data["langgraph_cron"]
    shipped = {p for pattern in patterns for p in (ROOT / "operator" / "langgraph_cron").glob(pattern)}
    assert set(packaged_files()) <= shipped


@pytest.mark.timeout(180)
def test_the_wheel_carries_the_examples(tmp_path):
    """Built as an install builds it: the wheel holds every packaged example, so an installed
    `lgcron demo` finds them wherever it runs."""
    pytest.importorskip("setuptools", reason="builds the wheel offline with this venv's setuptools (no build isolation)")
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "operator", source / "operator", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                            "--wheel-dir", str(tmp_path / "wheels"), str(source)],
                           capture_output=True, text=True, timeout=170, cwd=tmp_path, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    [wheel] = (tmp_path / "wheels").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in packaged_files():
        assert f"langgraph_cron/examples/{path.name}" in names, sorted(n for n in names if "examples" in n)
