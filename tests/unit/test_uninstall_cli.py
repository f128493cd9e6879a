"""`lgcron uninstall`: its refusals before any request (the cluster part is tests/operator/test_uninstall.py)."""

import pytest
from langgraph_cron.cli import main


@pytest.mark.parametrize("args, words", [
    (["--crds", "-n", "team-a"], "--crds deletes cluster-wide CRDs"),
    (["--timeout", "0"], "--timeout must be positive"),
    (["--webhook-tls-secret", "no-namespace"], "expected NAMESPACE/NAME"),
])
def test_usage_errors_are_one_line_and_exit_2(args, words, capsys):
    assert main(["uninstall", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lgcron uninstall: error: ") and words in err and err.count("\n") == 1, err


def test_no_kubeconfig_is_a_usage_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert main(["uninstall"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lgcron uninstall: error: ") and err.count("\n") == 1, err


def test_help_gives_the_order_and_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["uninstall", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for words in ("while the operator still runs", "kubectl delete -k manifests/", "--crds", "--keep-webhook",
                  "--webhook-tls-secret", "exit codes", "still Terminating"):
        assert words in text, words
