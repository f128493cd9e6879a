"""`lgcron validate` (core/files.py, core/manifests.py): the answer a cluster would give `kubectl apply`,
for every lgcron.io object of a GitOps directory, with labels and messages that name the place and the fix."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
from langgraph_cron.core.files import validate
from langgraph_cron.core.manifests import read_documents
from langgraph_cron.core.suggest import closest

from tests.bad_inputs import CASES, SERVER_CASES, _levels

NOW = datetime(2025, 1, 1, tzinfo=UTC)
CRON = """\
apiVersion: {api_version}
kind: {kind}
metadata: {{name: nightly, namespace: team-a}}
spec: {{schedule: "0 7 * * *", assistantId: agent}}
"""


def write(tmp_path: Path, text: str, name: str = "crons.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def run(tmp_path: Path, text: str) -> tuple[list[str], list[str], Path]:
    path = write(tmp_path, text)
    report, errors = validate([path], now=NOW)
    return report, errors, path


# ---------------------------------------------------------------- apiVersion and kind


@pytest.mark.parametrize("api_version", ["lgcron.io/v1", "lgcron.io/v1beta1"])
def test_a_version_of_our_group_that_is_not_served_says_which_is(tmp_path, api_version):
    report, errors, path = run(tmp_path, CRON.format(api_version=api_version, kind="LangGraphCron"))
    assert report == []
    assert errors == [(f"{path}#1 (line 1): LangGraphCron team-a/nightly: apiVersion: {api_version} is not served; "
                       "use lgcron.io/v1alpha1")]


@pytest.mark.parametrize("api_version", ["v1", "example.com/v1", ""])
def test_our_kind_under_another_api_version_is_refused(tmp_path, api_version):
    _, errors, _ = run(tmp_path, CRON.format(api_version=api_version or "null", kind="LangGraphCron"))
    [error] = errors
    assert error.endswith("; use lgcron.io/v1alpha1")
    assert "apiVersion: not set" in error if not api_version else f"apiVersion: {api_version} does not serve" in error


@pytest.mark.parametrize(("kind", "meant"), [
    ("LangGraphCrons", "LangGraphCron"), ("LanggraphCron", "LangGraphCron"), ("langgraphcron", "LangGraphCron"),
    ("LangGraphServers", "LangGraphServer"), ("ClusterLangGraphServers", "ClusterLangGraphServer"),
])
@pytest.mark.parametrize("api_version", ["lgcron.io/v1alpha1", "example.com/v1"])
def test_a_misspelt_kind_is_an_error_with_the_kind_meant_whatever_its_api_version(tmp_path, kind, meant, api_version):
    _, errors, _ = run(tmp_path, CRON.format(api_version=api_version, kind=kind))
    [error] = errors
    assert f": {kind} " in error and f"kind: {kind} is not a kind of lgcron.io; did you mean {meant}?" in error
    assert ("apiVersion:" in error) == (api_version != "lgcron.io/v1alpha1")


def test_an_unknown_kind_of_our_group_lists_ours(tmp_path):
    _, errors, _ = run(tmp_path, CRON.format(api_version="lgcron.io/v1alpha1", kind="Widget"))
    assert errors[0].endswith("kind: Widget is not a kind of lgcron.io; "
                              "use LangGraphCron, LangGraphServer or ClusterLangGraphServer")


# Kinds a GitOps repository holds besides ours: none may be taken for a typo of ours.
OTHER_KINDS = ["Deployment", "ConfigMap", "Secret", "CronJob", "Job", "ClusterRole", "ClusterRoleBinding",
               "ServiceAccount", "Kustomization", "HelmRelease", "GitRepository", "Application", "AppProject",
               "ClusterIssuer", "Certificate", "StatefulSet", "Namespace", "CustomResourceDefinition",
               "ValidatingWebhookConfiguration"]


@pytest.mark.parametrize("kind", OTHER_KINDS)
def test_other_projects_kinds_are_no_typo_of_ours(kind):
    from langgraph_cron.core.files import KIND_CUTOFF, KINDS

    assert closest(kind, KINDS, cutoff=KIND_CUTOFF) is None


def test_other_kinds_and_documents_without_a_kind_are_skipped_silently(tmp_path):
    others = "".join(f"---\napiVersion: example.com/v1\nkind: {kind}\nmetadata: {{name: x}}\n" for kind in OTHER_KINDS)
    report, errors, path = run(tmp_path, (
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [a.yaml]\n"
        f"{others}---\n---\n# only a comment\n---\njust a string\n---\n[1, 2]\n---\n{{name: no-kind}}\n---\n"
        + CRON.format(api_version="lgcron.io/v1alpha1", kind="LangGraphCron")))
    assert errors == []
    [line] = report
    assert line.startswith(f"{path}#{len(OTHER_KINDS) + 7} (line ") and ": LangGraphCron team-a/nightly: ok (" in line


def test_no_lgcron_documents_is_an_error_naming_the_paths_searched(tmp_path):
    path = write(tmp_path, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    assert validate([path, tmp_path]) == ([], [f"no lgcron.io documents found in {path}, {tmp_path}"])


# ---------------------------------------------------------------- labels


def test_a_document_is_labelled_by_its_position_and_starting_line(tmp_path):
    report, errors, path = run(tmp_path, """\
        # crons of team a
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: unrelated}
        ---

        # the second document
        apiVersion: lgcron.io/v1alpha1
        kind: LangGraphCron
        metadata: {name: nightly, namespace: team-a}
        spec: {schedule: "0 7 * * *", assistantId: agent}
    """)
    assert errors == []
    assert report == [(f"{path}#2 (line 8): LangGraphCron team-a/nightly: ok (agentServer, UTC); next runs: "
                       "2025-01-01T07:00:00Z, 2025-01-02T07:00:00Z, 2025-01-03T07:00:00Z")]


def test_a_list_from_kubectl_get_is_checked_item_by_item(tmp_path):
    report, errors, path = run(tmp_path, """\
        apiVersion: v1
        kind: List
        items:
        - apiVersion: lgcron.io/v1alpha1
          kind: LangGraphCron
          metadata: {name: good, namespace: team-a, resourceVersion: "12", uid: 5f0c1d4e}
          spec: {schedule: "@daily", assistantId: agent}
          status: {conditions: []}
        - apiVersion: lgcron.io/v1alpha1
          kind: LangGraphCron
          metadata: {name: bad, namespace: team-a}
          spec: {schedule: "61 7 * * *", assistantId: agent}
    """)
    assert [line.split(": ok")[0] for line in report] == [f"{path}#1 items[0] (line 4): LangGraphCron team-a/good"]
    assert errors[0].startswith(f"{path}#1 items[1] (line 9): LangGraphCron team-a/bad: spec.schedule: ")
    assert [d.where for d in read_documents([path])] == [f"{path}#1 items[0] (line 4)", f"{path}#1 items[1] (line 9)"]


# ---------------------------------------------------------------- unknown fields and metadata


def test_a_misspelt_field_gets_the_field_meant(tmp_path):
    _, errors, _ = run(tmp_path, """\
        apiVersion: lgcron.io/v1alpha1
        kind: LangGraphCron
        metadata: {name: nightly, namespce: team-a}
        spec: {scheduel: "0 7 * * *", assistantId: agent, config: {tagz: [a]}, frobnicate: 1}
        sepc: {}
    """)
    [error] = errors
    for problem in ("sepc: unknown field; did you mean spec?", "metadata.namespce: unknown field; did you mean namespace?",
                    "spec.scheduel: unknown field; did you mean schedule?", "spec.config.tagz: unknown field; did you mean tags?",
                    "spec.frobnicate: unknown field"):
        assert problem in error, problem
    assert "Extra inputs" not in error and "spec.frobnicate: unknown field; did" not in error


def test_names_the_apiserver_refuses_are_named(tmp_path):
    _, errors, _ = run(tmp_path, """\
        apiVersion: lgcron.io/v1alpha1
        kind: LangGraphCron
        metadata: {name: Nightly_Digest, namespace: Team_A}
        spec: {schedule: "@daily", assistantId: agent}
    """)
    assert "metadata.name: 'Nightly_Digest' is not a valid Kubernetes name" in errors[0]
    assert "metadata.namespace: 'Team_A' is not a valid namespace name" in errors[0]


@pytest.mark.parametrize("spec", ["[]", "a string"])
def test_a_spec_that_is_not_a_mapping_is_named(tmp_path, spec):
    _, errors, _ = run(tmp_path, f"apiVersion: lgcron.io/v1alpha1\nkind: LangGraphCron\nmetadata: {{name: x}}\nspec: {spec}\n")
    assert "spec: must be an object (a YAML mapping)" in errors[0]


# ---------------------------------------------------------------- server objects


SERVERS = """\
apiVersion: lgcron.io/v1alpha1
kind: LangGraphServer
metadata: {name: team-agents, namespace: team-a}
spec:
  url: https://team-agents.example.com
  apiKeySecretRef: {name: team-agents-key, key: apiKey}
---
apiVersion: lgcron.io/v1alpha1
kind: ClusterLangGraphServer
metadata: {name: shared-agents, namespace: ignored-by-kubectl}
spec:
  url: https://agents.example.com
  apiKeySecretRef: {name: shared-key, namespace: lgcron-system, key: apiKey}
  conditions: [{namespaces: [team-a]}]
"""


def test_server_objects_are_checked_and_reported_with_their_url_and_no_secret(tmp_path):
    report, errors, path = run(tmp_path, SERVERS)
    assert errors == []
    assert report == [f"{path}#1 (line 1): LangGraphServer team-a/team-agents: ok (https://team-agents.example.com)",
                      f"{path}#2 (line 8): ClusterLangGraphServer shared-agents: ok (https://agents.example.com)"]


def test_a_bad_server_object_names_its_field(tmp_path):
    _, errors, path = run(tmp_path, SERVERS.replace("apiKeySecretRef: {name: team", "apiKeySecretRef: {nme: team")
                          .replace("url: https://agents", "requestTimeoutSeconds: '30'\n  url: https://agents"))
    assert errors == [
        (f"{path}#1 (line 1): LangGraphServer team-a/team-agents: spec.apiKeySecretRef.name: Field required; "
         "spec.apiKeySecretRef.nme: unknown field; did you mean name?"),
        # The CRD schema refuses a string for a number, as parse_spec does for a cron (no conversion).
        f"{path}#2 (line 8): ClusterLangGraphServer shared-agents: spec.requestTimeoutSeconds: Input should be a valid number",
    ]


@pytest.mark.parametrize("case", SERVER_CASES, ids=lambda c: c.name)
def test_every_catalogued_server_object_is_refused_naming_its_field(tmp_path, case):
    _, errors, _ = run(tmp_path, f"apiVersion: lgcron.io/v1alpha1\nkind: {case.kind}\n"
                                 f"metadata: {{name: {case.name}}}\nspec: {_flow(case.spec)}\n")
    [error] = errors
    assert f": {case.field}" in error or f": {case.field.split('[')[0]}" in error, error


@pytest.mark.parametrize("case", [c for c in CASES if not c.known_problem], ids=lambda c: c.name)
def test_every_catalogued_cron_gets_the_verdict_the_catalogue_documents_for_lgcron_validate(tmp_path, case):
    body = {"apiVersion": "lgcron.io/v1alpha1", "kind": "LangGraphCron",
            "metadata": {"name": case.name, "namespace": "team-a"}, "spec": case.full_spec()}
    _, errors, _ = run(tmp_path, _flow(body))
    refused = _levels(case)[0].startswith("refused")
    assert bool(errors) == refused, errors
    if refused:
        assert case.field in errors[0]


def _flow(value) -> str:
    import json

    return json.dumps(value)  # JSON is YAML, and keeps the catalogue's values exactly


# ---------------------------------------------------------------- YAML that cannot be read


@pytest.mark.parametrize(("text", "where", "problem"), [
    ("kind: [unclosed\n", "2:1", "expected ',' or ']', but got '<stream end>' (while parsing a flow sequence at line 1, column 7)"),
    ("a: 1\nb: c: d\n", "2:5", "mapping values are not allowed here"),
    ("a: 1\nb: x\x00\n", "2:5", "unacceptable character #x0000: special characters are not allowed"),
])
def test_a_yaml_error_says_file_line_and_column(tmp_path, text, where, problem):
    from langgraph_cron.core.files import FileError

    path = write(tmp_path, text)
    with pytest.raises(FileError) as caught:
        validate([path])
    assert str(caught.value) == f"{path}:{where}: cannot parse YAML: {problem}"


def test_the_cli_exits_2_with_one_line_for_a_file_it_cannot_read_and_1_for_an_invalid_object(tmp_path):
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    bad = write(tmp_path, CRON.format(api_version="lgcron.io/v1", kind="LangGraphCron"), "bad.yaml")
    for path, code, text in ((binary, 2, f"lgcron validate: error: {binary}: cannot read: not UTF-8 text (byte 0)"),
                             (bad, 1, f"error: {bad}#1 (line 1): LangGraphCron team-a/nightly: apiVersion:")):
        result = subprocess.run([sys.executable, "-m", "langgraph_cron.cli", "validate", "-f", str(path)],
                                capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == code and result.stderr.startswith(text), result.stderr
        assert len(result.stderr.splitlines()) == 1


def test_the_help_documents_the_ci_step_the_labels_and_the_exit_codes():
    from langgraph_cron.cli import build_parser

    parser = build_parser()
    [validate_parser] = [a for a in parser._subparsers._group_actions[0].choices.items() if a[0] == "validate"]
    text = validate_parser[1].format_help()
    for needle in ("Argo CD and Flux", "pip install langgraph-cron-operator", "lgcron validate -f clusters/",
                   "FILE#N (line L)", "only the cluster knows", "FILE:LINE:COLUMN", "exit codes", "  2    "):
        assert needle in text, needle


def test_lgcron_apply_refuses_a_document_kubectl_would_refuse_instead_of_skipping_it(tmp_path):
    from langgraph_cron.core.files import FileError, load_documents

    path = tmp_path / "crons.yaml"
    path.write_text("apiVersion: lgcron.io/v1\nkind: LangGraphCron\nmetadata: {name: a}\n"
                    "spec: {schedule: '0 9 * * *', assistantId: agent}\n---\n"
                    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: other}\n")
    with pytest.raises(FileError, match=r"#1 \(line 1\): apiVersion: lgcron.io/v1 is not served; use lgcron.io/v1alpha1"):
        load_documents([path])
    path.write_text("apiVersion: lgcron.io/v1alpha1\nkind: LangGraphCrons\nmetadata: {name: a}\n")
    with pytest.raises(FileError, match="did you mean LangGraphCron"):
        load_documents([path])
