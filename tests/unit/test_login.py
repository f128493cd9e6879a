"""The operator's in-cluster login (controller/login.py): the API server KUBERNETES_SERVICE_HOST and
KUBERNETES_SERVICE_PORT name, as client-go reads them, not kopf's hardcoded kubernetes.default.svc."""

from __future__ import annotations

import sys
from pathlib import Path

import kopf
import pytest
from langgraph_cron.controller import login


@pytest.fixture
def service_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Pod's service-account directory, and the variables kubelet sets."""
    (tmp_path / "token").write_text("token-one\n")
    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    (tmp_path / "namespace").write_text("lgcron-system")
    monkeypatch.setattr(login, "SERVICE_ACCOUNT_DIR", tmp_path)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")
    return tmp_path


@pytest.mark.parametrize(("host", "port", "server"), [
    ("10.96.0.1", "443", "https://10.96.0.1:443"),
    ("127.0.0.1", "34567", "https://127.0.0.1:34567"),
    ("api.internal", "6443", "https://api.internal:6443"),
    ("fd00:10:96::1", "443", "https://[fd00:10:96::1]:443"),  # IPv6 in brackets, as net.JoinHostPort does
    ("[fd00::1]", "443", "https://[fd00::1]:443"),
])
def test_the_server_is_built_from_both_variables_as_client_go_does(host, port, server):
    assert login.in_cluster_server({"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port}) == server


@pytest.mark.parametrize("environ", [
    {},
    {"KUBERNETES_SERVICE_HOST": "10.96.0.1"},
    {"KUBERNETES_SERVICE_PORT": "443"},
    {"KUBERNETES_SERVICE_HOST": "", "KUBERNETES_SERVICE_PORT": "443"},
])
def test_no_server_unless_both_variables_are_set(environ):
    assert login.in_cluster_server(environ) is None


def test_in_cluster_login_uses_the_service_variables_and_the_pods_files(service_account):
    info = login.login_in_cluster()
    assert info.server == "https://10.96.0.1:6443"
    assert info.token == "token-one"
    assert info.ca_path == str(service_account / "ca.crt")
    assert info.default_namespace == "lgcron-system"
    assert info.priority > 20  # above kopf's own service-account login


def test_a_rotated_token_is_read_on_the_next_login(service_account):
    assert login.login_in_cluster().token == "token-one"
    (service_account / "token").write_text("token-two")  # kubelet rotates a projected token in place
    assert login.login_in_cluster().token == "token-two"


def test_no_ca_file_means_the_system_cas(service_account):
    (service_account / "ca.crt").unlink()
    assert login.login_in_cluster().ca_path is None


def test_no_token_file_is_not_in_cluster(service_account):
    (service_account / "token").unlink()
    assert login.login_in_cluster() is None


def test_connection_info_prefers_the_service_variables_to_kopfs_hardcoded_dns_name(service_account, monkeypatch):
    monkeypatch.setattr(kopf, "login_with_service_account", lambda **_: pytest.fail("kopf's login was used"))
    info = login.connection_info()
    assert info.server == "https://10.96.0.1:6443" and "kubernetes.default.svc" not in info.server


def test_without_the_variables_kopfs_service_account_login_is_the_fallback(service_account, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST")
    monkeypatch.setattr(login, "uses_client_library", lambda: False)
    fallback = kopf.ConnectionInfo(server="https://kubernetes.default.svc", token="t")
    monkeypatch.setattr(kopf, "login_with_service_account", lambda **_: fallback)
    assert login.connection_info() is fallback


def test_a_kubeconfig_that_needs_the_client_library_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setattr(login, "SERVICE_ACCOUNT_DIR", tmp_path)  # no token: not in a Pod
    monkeypatch.setattr(login, "uses_client_library", lambda: True)
    monkeypatch.setitem(sys.modules, "kubernetes", None)  # not installed (it is not a dependency of the image)
    with pytest.raises(kopf.LoginError, match="pip install kubernetes"):
        login.connection_info()


def test_the_clis_kubeconfig_commands_without_the_client_library_name_the_extra(tmp_path, monkeypatch):
    from langgraph_cron.clients.kubeconfig import KubeconfigError, load_endpoint

    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    monkeypatch.setitem(sys.modules, "kubernetes", None)
    with pytest.raises(KubeconfigError, match=r"langgraph-cron-operator\[kubeconfig\]"):
        load_endpoint()
