"""The container image's install path, replayed without a Docker engine.

The Dockerfile is parsed and its facts asserted (so it cannot drift from this test); then the same
path is run: a build context holding only what the build stage COPYs (minus .dockerignore), `pip
wheel --no-deps`, the wheel installed into a fresh venv, and the image's commands run from it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(240)

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
APP_UID = 10001


def parse_dockerfile(text: str) -> list[dict]:
    """Stages as {"from": image, "name": alias, "instructions": [(KEYWORD, args)]}, continuations joined."""
    logical, current = [], ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
        else:
            logical.append(current + line)
            current = ""
    stages: list[dict] = []
    for line in logical:
        keyword, _, args = line.strip().partition(" ")
        keyword, args = keyword.upper(), " ".join(args.split())
        if keyword == "FROM":
            image, *rest = args.split()
            stages.append({"from": image, "name": rest[1] if rest[:1] == ["AS"] else None, "instructions": []})
        elif stages:
            stages[-1]["instructions"].append((keyword, args))
    return stages


def _args(stage: dict, keyword: str) -> list[str]:
    return [args for kw, args in stage["instructions"] if kw == keyword]


def _env(stage: dict) -> dict[str, str]:
    env = {}
    for args in _args(stage, "ENV"):
        env.update(item.split("=", 1) for item in shlex.split(args))
    return env


@pytest.fixture(scope="module")
def stages() -> list[dict]:
    return parse_dockerfile(DOCKERFILE.read_text())


def test_parser_joins_continuations_and_splits_stages():
    parsed = parse_dockerfile("FROM a AS b\n# c\nRUN x \\\n    && y\nFROM b\nUSER 1\n")
    assert [(s["from"], s["name"]) for s in parsed] == [("a", "b"), ("b", None)]
    assert parsed[0]["instructions"] == [("RUN", "x && y")]


def test_dockerfile_is_multi_stage_on_slim_python_311(stages):
    assert len(stages) >= 2
    for stage in stages:
        assert stage["from"].startswith("python:3.11-slim"), stage["from"]
    assert stages[0]["name"], "the build stage needs a name to copy from"


def test_build_stage_builds_only_the_wheel(stages):
    runs = " ".join(_args(stages[0], "RUN"))
    assert "pip wheel" in runs and "--no-deps" in runs


def test_final_stage_installs_the_built_wheel_into_a_venv_and_nothing_else(stages):
    final = stages[-1]
    runs = " ".join(_args(final, "RUN"))
    assert f"from={stages[0]['name']}" in runs, "the wheel must come from the build stage"
    assert "python -m venv /opt/venv" in runs and "/opt/venv/bin/pip install --no-cache-dir /wheels/*.whl" in runs
    assert not _args(final, "COPY") and not _args(final, "ADD"), "sources must not reach the final image"
    assert _env(final)["PATH"].startswith("/opt/venv/bin:")


def test_final_stage_runs_as_a_fixed_numeric_non_root_user(stages):
    users = _args(stages[-1], "USER")
    assert users, "no USER: the image would run as root"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) == APP_UID, "USER must be numeric for runAsNonRoot"
    assert not gid or (gid.isdigit() and int(gid) != 0)
    # kopf calls getpass.getuser(), which fails for a UID without a passwd entry.
    assert any(f"--uid {APP_UID}" in run for run in _args(stages[-1], "RUN"))


def test_final_stage_suits_a_read_only_root_filesystem(stages):
    env = _env(stages[-1])
    assert env["HOME"].startswith("/tmp") and env["PYTHONDONTWRITEBYTECODE"] == "1"


def test_entrypoint_cmd_and_ports(stages):
    final = stages[-1]
    assert json.loads(_args(final, "ENTRYPOINT")[-1]) == ["lgcron"]
    assert json.loads(_args(final, "CMD")[-1]) == [
        "run",
        "--all-namespaces",
        "--liveness",
        "http://0.0.0.0:8080/healthz",
    ]
    assert "8080" in " ".join(_args(final, "EXPOSE")).split()


# ---------------------------------------------------------------- the install path itself


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        else:
            out += {"*": "[^/]*", "?": "[^/]"}.get(pattern[i], re.escape(pattern[i]))
            i += 1
    return re.compile(out)


def _ignored(relative: str, patterns: list[str]) -> bool:
    """.dockerignore semantics: the last matching pattern wins; matching a parent directory counts."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _pattern_regex(pattern.removeprefix("!").strip("/"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            ignored = not negate
    return ignored


def _dockerignore() -> list[str]:
    path = ROOT / ".dockerignore"
    lines = path.read_text().splitlines() if path.exists() else []
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def test_dockerignore_matcher():
    patterns = ["*", "!operator", "**/__pycache__", "**/*.egg-info"]
    assert _ignored("tests/x.py", patterns) and _ignored(".git/HEAD", patterns)
    assert not _ignored("operator/pkg/a.py", patterns)
    assert _ignored("operator/pkg/__pycache__/a.pyc", patterns)
    assert _ignored("operator/x.egg-info/PKG-INFO", patterns)


def _build_context(stages: list[dict], target: Path) -> None:
    """Lay out what the build stage's COPY instructions take from the context, as Docker would send it."""
    patterns = _dockerignore()
    for args in _args(stages[0], "COPY"):
        assert not args.startswith("--"), "the build stage copies plain paths from the context"
        *sources, dest = args.split()
        for source in sources:
            path = ROOT / source
            assert path.exists(), f"COPY {source}: not in the repository"
            if path.is_dir():  # a directory's contents go into dest
                pairs = [(f, Path(dest) / f.relative_to(path)) for f in path.rglob("*") if f.is_file()]
            else:
                pairs = [(path, Path(dest) / path.name if dest.endswith("/") else Path(dest))]
            for file, out in pairs:
                if not _ignored(file.relative_to(ROOT).as_posix(), patterns):
                    (target / out).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(file, target / out)


def _run(command: list[str], cwd: Path, **env_overrides: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(PYTHONDONTWRITEBYTECODE="1", PIP_DISABLE_PIP_VERSION_CHECK="1", **env_overrides)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=180, check=False)


@pytest.fixture(scope="module")
def image_venv(stages, tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("image")
    context, wheels, venv = base / "context", base / "wheels", base / "venv"
    _build_context(stages, context)
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(wheels), str(context)], base)
    assert built.returncode == 0, built.stdout + built.stderr
    [wheel] = wheels.glob("*.whl")
    made = _run([sys.executable, "-m", "venv", str(venv)], base)
    assert made.returncode == 0, made.stderr
    installed = _run([str(venv / "bin" / "pip"), "install", "--quiet", str(wheel)], base)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return venv


def lgcron(venv: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the installed command as the image does: from elsewhere, HOME in a scratch directory."""
    return _run([str(venv / "bin" / "lgcron"), *args], venv.parent, HOME=str(venv.parent))


def test_context_holds_only_what_the_build_needs(stages, tmp_path):
    _build_context(stages, tmp_path)
    assert (tmp_path / "pyproject.toml").exists() and (tmp_path / "operator" / "langgraph_cron" / "cli" / "__init__.py").exists()
    assert not list(tmp_path.rglob("__pycache__")) and not list(tmp_path.rglob("*.egg-info"))
    assert not (tmp_path / "tests").exists()


def test_installed_lgcron_help_and_run_help(image_venv):
    top = lgcron(image_venv, "--help")
    assert top.returncode == 0 and "run" in top.stdout, top.stderr
    run = lgcron(image_venv, "run", "--help")
    assert run.returncode == 0, run.stderr
    for flag in ("--all-namespaces", "--liveness", "--peering", "--log-format", "--verbose"):
        assert flag in run.stdout, f"the manifests and chart pass {flag}"


def test_installed_package_carries_the_crd_and_typing_marker(image_venv):
    crd = lgcron(image_venv, "crd")
    # All three CRDs, as committed in crds/: one header comment, then `---` and each further CRD.
    files = [(ROOT / "crds" / name).read_text() for name in
             ("langgraphcron.yaml", "langgraphserver.yaml", "clusterlanggraphserver.yaml")]
    expected = files[0] + "".join("---\n" + text.split("\n", 1)[1] for text in files[1:])
    assert crd.returncode == 0 and crd.stdout == expected
    assert list(image_venv.glob("lib/python*/site-packages/langgraph_cron/py.typed"))


def _has_command(venv: Path, name: str) -> bool:
    return lgcron(venv, name, "--help").returncode == 0


def test_installed_lgcron_invoke_help(image_venv):
    if not _has_command(image_venv, "invoke"):
        pytest.skip("`lgcron invoke` is not implemented yet (the cronJob backend's Pods will run it)")
    result = lgcron(image_venv, "invoke", "--help")
    assert result.returncode == 0 and "invoke" in result.stdout


def test_installed_lgcron_validate_accepts_the_examples(image_venv):
    if not _has_command(image_venv, "validate"):
        pytest.skip("`lgcron validate` is not implemented yet")
    examples = ROOT / "examples"
    if not list(examples.glob("**/*.yaml")):
        pytest.skip("no examples/*.yaml to validate yet")
    result = lgcron(image_venv, "validate", "-f", str(examples))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in result.stderr.lower()


def test_installed_package_generates_every_committed_crd(image_venv):
    """The wheel carries the models of all three CRDs: the image regenerates crds/ exactly."""
    script = (
        "import json; from langgraph_cron.core.crd import all_crds, render_crd_yaml; "
        "print(json.dumps({name: render_crd_yaml(crd) for name, crd in all_crds().items()}))"
    )
    result = _run([str(image_venv / "bin" / "python"), "-c", script], image_venv.parent)
    assert result.returncode == 0, result.stderr
    generated = json.loads(result.stdout)
    assert sorted(generated) == sorted(p.name for p in (ROOT / "crds").glob("*.yaml"))
    for name, text in generated.items():
        assert text == (ROOT / "crds" / name).read_text(), name
