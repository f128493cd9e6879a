"""`lgcron validate`, `apply` and `delete` on YAML files, against the real Agent Server."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import httpx
import pytest
from langgraph_cron.clients.agent_server import AgentServerClient
from langgraph_cron.core.spec import NAME_KEY, NAMESPACE_KEY

pytestmark = [pytest.mark.agent_server, pytest.mark.timeout(120)]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def lgcron(*args: str, server_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LGCRON_")}
    if server_url:
        env["LGCRON_SERVER_URL"] = server_url
    return subprocess.run([sys.executable, "-m", "langgraph_cron.cli", *args], env=env, capture_output=True, text=True, timeout=60)


def write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def test_validate_accepts_the_examples_and_prints_three_runs_each():
    result = lgcron("validate", "-f", str(EXAMPLES))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    crons = [line for line in lines if ": LangGraphCron " in line]
    assert len(crons) >= 3 and all(": ok (" in line for line in lines)
    assert all(line.split("next runs: ")[1].count("Z") == 3 for line in crons)


def test_validate_reports_file_document_and_field_and_fails(tmp_path):
    path = write(tmp_path, "crons.yaml", """\
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: unrelated}
        ---
        apiVersion: lgcron.io/v1alpha1
        kind: LangGraphCron
        metadata: {name: seconds-on-cronjob, namespace: team-a}
        spec: {schedule: "*/5 * * * * *", assistantId: agent, backend: cronJob}
        ---
        apiVersion: lgcron.io/v1alpha1
        kind: LangGraphCron
        metadata: {name: fine}
        spec: {schedule: "@daily", assistantId: agent}
    """)
    result = lgcron("validate", "-f", str(path))
    assert result.returncode == 1
    assert f"{path}#2 (line 5): LangGraphCron team-a/seconds-on-cronjob: spec.schedule:" in result.stderr
    assert "minute granularity" in result.stderr
    assert f"{path}#3 (line 10): LangGraphCron default/fine: ok" in result.stdout
    assert "Traceback" not in result.stderr


def test_cli_errors_are_one_line(tmp_path):
    broken = write(tmp_path, "broken.yaml", "kind: [unclosed\n")
    for args in (("validate", "-f", str(tmp_path / "missing.yaml")), ("validate", "-f", str(broken))):
        result = lgcron(*args)
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


async def test_apply_is_idempotent_and_delete_removes(tmp_path, agent_server, client: AgentServerClient):
    namespace = f"files-{uuid.uuid4().hex[:8]}"
    path = write(tmp_path, "cron.yaml", f"""\
        apiVersion: lgcron.io/v1alpha1
        kind: LangGraphCron
        metadata: {{name: from-file, namespace: {namespace}}}
        spec: {{schedule: "0 9 1 1 *", assistantId: agent, input: {{text: hi}}}}
    """)
    tags = {NAMESPACE_KEY: namespace, NAME_KEY: "from-file"}

    first = lgcron("apply", "-f", str(path), server_url=agent_server.url)
    assert first.returncode == 0, first.stdout + first.stderr
    [cron] = await client.search(metadata=tags)
    assert cron.cron_id in first.stdout and "True (Scheduled)" in first.stdout
    assert "lgcron.io/uid" not in cron.metadata

    again = lgcron("apply", "-f", str(path), "--server", agent_server.url)
    assert again.returncode == 0
    assert [c.cron_id for c in await client.search(metadata=tags)] == [cron.cron_id]

    path.write_text(path.read_text().replace("0 9 1 1 *", "30 9 1 1 *"))
    # File mode has no operator to prune kept threads: it keeps them only when told (onRunCompleted: keep).
    assert lgcron("apply", "-f", str(path), server_url=agent_server.url).returncode == 0
    [updated] = await client.search(metadata=tags)
    assert (updated.cron_id, updated.schedule) == (cron.cron_id, "30 9 1 1 *")

    deleted = lgcron("delete", "-f", str(path), server_url=agent_server.url)
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert await client.search(metadata=tags) == []


async def test_apply_reports_a_bad_resource_and_exits_non_zero(tmp_path, agent_server):
    path = write(tmp_path, "bad.yaml", """\
        apiVersion: lgcron.io/v1alpha1
        kind: LangGraphCron
        metadata: {name: no-such-assistant, namespace: files-bad}
        spec: {schedule: "0 9 1 1 *", assistantId: no-such-graph}
    """)
    result = lgcron("apply", "-f", str(path), server_url=agent_server.url)
    assert result.returncode == 1
    assert "AssistantNotFound" in result.stdout


async def test_apply_says_file_mode_cannot_use_server_objects(tmp_path, agent_server, client: AgentServerClient):
    path = write(tmp_path, "ref.yaml", """\
        apiVersion: lgcron.io/v1alpha1
        kind: LangGraphCron
        metadata: {name: with-ref, namespace: files-ref}
        spec: {schedule: "0 9 1 1 *", assistantId: agent, serverRef: {kind: ClusterLangGraphServer, name: shared}}
    """)
    result = lgcron("apply", "-f", str(path), server_url=agent_server.url)
    assert result.returncode == 1
    assert "spec.serverRef" in result.stdout and "--server" in result.stdout, result.stdout
    assert await client.search(metadata={NAMESPACE_KEY: "files-ref"}) == []


def test_demo_runs_the_examples_end_to_end(tmp_path):
    examples = tmp_path / "examples"
    examples.mkdir()
    (examples / "fast.yaml").write_text(textwrap.dedent("""\
        apiVersion: lgcron.io/v1alpha1
        kind: LangGraphCron
        metadata: {name: fast}
        spec: {schedule: "* * * * * *", assistantId: agent, input: {text: demo}, onRunCompleted: keep}
    """))
    result = subprocess.run([sys.executable, "-m", "langgraph_cron.cli", "demo", "--examples", str(examples), "--wait", "60"],
                            capture_output=True, text=True, timeout=110, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "fast" in result.stdout and "True (Scheduled)" in result.stdout
    assert "finished: success" in result.stdout and "with input 'demo'" in result.stdout
    assert "deleted the demo crons" in result.stdout and "stopped the Agent Server" in result.stdout


async def test_history_of_a_file_mode_cron_lists_its_runs(tmp_path, agent_server):
    name = f"hist-{uuid.uuid4().hex[:6]}"
    path = write(tmp_path, "every-second.yaml", f"""\
        apiVersion: lgcron.io/v1alpha1
        kind: LangGraphCron
        metadata: {{name: {name}, namespace: files-history}}
        spec: {{schedule: "* * * * * *", assistantId: agent, input: {{text: "fail: from a file"}}, onRunCompleted: keep}}
    """)
    # File mode has no operator to prune kept threads: it keeps them only when told (onRunCompleted: keep).
    assert lgcron("apply", "-f", str(path), server_url=agent_server.url).returncode == 0
    try:
        await asyncio.sleep(3)
        result = lgcron("history", "-f", str(path), "--limit", "2", server_url=agent_server.url)
        assert result.returncode == 0, result.stdout + result.stderr
        header, *rows = result.stdout.splitlines()
        assert header.split()[:3] == ["RUN", "THREAD", "RESULT"] and 1 <= len(rows) <= 2
        assert any("Failed" in row and "EchoFailed: fail: from a file" in row for row in rows), result.stdout
    finally:
        lgcron("delete", "-f", str(path), server_url=agent_server.url)
        async with httpx.AsyncClient(base_url=agent_server.url, timeout=10) as raw:  # its kept threads too
            for thread in (await raw.post("/threads/search", json={"metadata": {NAME_KEY: name}, "limit": 100})).json():
                await raw.delete(f"/threads/{thread['thread_id']}")
    bad = lgcron("history", "no-slash")
    assert bad.returncode == 2 and bad.stderr.startswith("lgcron history: error:") and bad.stderr.count("\n") == 1
