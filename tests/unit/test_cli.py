"""The `lgcron` command line: parsing and help, without running anything."""

import pytest
import yaml
from langgraph_cron.cli import build_parser, main


def test_run_requires_a_scope():
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["run"])
    assert exc.value.code == 2


def test_run_accepts_repeated_namespaces_or_all_namespaces():
    args = build_parser().parse_args(["run", "-n", "a", "--namespace", "b"])
    assert args.namespace == ["a", "b"] and not args.all_namespaces
    assert build_parser().parse_args(["run", "--all-namespaces"]).all_namespaces
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "-n", "a", "--all-namespaces"])


def test_help_names_every_command_and_the_settings(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = capsys.readouterr().out
    for word in ("--namespace", "--all-namespaces", "--liveness", "LGCRON_SERVER_URL", "LGCRON_RESYNC_INTERVAL"):
        assert word in text


def test_crd_command_prints_the_generated_crd(capsys):
    from langgraph_cron.core.crd import render_crd_yaml

    assert main(["crd"]) == 0
    # All three CRDs (issue 19), as one YAML stream that starts with the LangGraphCron CRD.
    out = capsys.readouterr().out
    assert out.startswith(render_crd_yaml())
    kinds = [doc["spec"]["names"]["kind"] for doc in yaml.safe_load_all(out)]
    assert kinds == ["LangGraphCron", "LangGraphServer", "ClusterLangGraphServer"]
