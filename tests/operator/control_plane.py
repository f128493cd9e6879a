"""
A private, real Kubernetes control plane for the tests and the bench: etcd, kube-apiserver and
(when present) kube-controller-manager, started from the binaries in a directory that follows
controller-runtime's envtest convention (``KUBEBUILDER_ASSETS``).

Everything is per run: loopback only, free ports, a fresh CA with serving, client and
service-account keys, and a temp data dir. ``stop()`` ends all three processes and removes the
directory; they also die with the Python process that started them (``PR_SET_PDEATHSIG``), so a
``kill -9`` of pytest cannot leave an apiserver behind.

    with ControlPlane.from_assets(os.environ["KUBEBUILDER_ASSETS"]) as cp:
        subprocess.run(["kubectl", "--kubeconfig", cp.kubeconfig, "get", "ns"])

There is no kubelet and no container runtime: Pods are created but never run, so Jobs never finish.
"""
from __future__ import annotations

import contextlib
import ctypes
import datetime
import ipaddress
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from langgraph_cron.clients.devserver import free_port

SERVICE_CIDR = "10.0.0.0/24"
LOOPBACK = "127.0.0.1"


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: the kernel sends SIGKILL when the starting process dies.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


# ---------------------------------------------------------------- PKI


@dataclass
class _Issued:
    key: rsa.RSAPrivateKey
    cert: x509.Certificate


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject: x509.Name, key: rsa.RSAPrivateKey, issuer: _Issued | None, *,
                 server: bool = False, client: bool = False) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).public_key(key.public_key())
               .issuer_name(issuer.cert.subject if issuer else subject)
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2)))
    if issuer is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          encipher_only=False, decipher_only=False), critical=True)
    else:
        usages = [*([ExtendedKeyUsageOID.SERVER_AUTH] if server else []), *([ExtendedKeyUsageOID.CLIENT_AUTH] if client else [])]
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True).add_extension(
            x509.ExtendedKeyUsage(usages), critical=False)
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address(LOOPBACK)), x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
                x509.DNSName("localhost"), x509.DNSName("kubernetes.default.svc")]), critical=False)
    return builder.sign(issuer.key if issuer else key, hashes.SHA256())


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


# ---------------------------------------------------------------- the control plane


@dataclass
class ControlPlane:
    """etcd + kube-apiserver (+ kube-controller-manager) on loopback; ``kubeconfig`` is a cluster-admin's."""

    assets: Path
    workdir: Path
    start_timeout: float = 90.0
    controller_manager: bool = True
    apiserver_port: int = 0
    kubeconfig: Path = field(init=False)
    _processes: list[tuple[str, subprocess.Popen]] = field(default_factory=list, init=False)
    _owns_workdir: bool = field(default=False, init=False)

    @classmethod
    def from_assets(cls, assets: str | Path, workdir: Path | None = None, **kwargs) -> ControlPlane:
        """A control plane from an envtest assets directory (``etcd``, ``kube-apiserver``, optional
        ``kube-controller-manager``); ``etcd`` is also looked up on PATH."""
        cp = cls(Path(assets).expanduser(), workdir or Path(tempfile.mkdtemp(prefix="lgcron-k8s-")), **kwargs)
        cp._owns_workdir = workdir is None
        return cp

    @property
    def url(self) -> str:
        return f"https://{LOOPBACK}:{self.apiserver_port}"

    def binary(self, name: str) -> Path | None:
        path = self.assets / name
        if path.is_file() and os.access(path, os.X_OK):
            return path
        found = shutil.which(name) if name == "etcd" else None
        return Path(found) if found else None

    def log_path(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        apiserver, etcd = self.binary("kube-apiserver"), self.binary("etcd")
        if not apiserver or not etcd:
            raise FileNotFoundError(f"{self.assets} needs kube-apiserver and etcd (the envtest assets layout)")
        try:
            self._start(apiserver, etcd)
        except BaseException:
            self.stop()
            raise

    def _start(self, apiserver: Path, etcd: Path) -> None:
        pki = self.workdir / "pki"
        pki.mkdir(parents=True, exist_ok=True)
        ca_key = _key()
        ca = _Issued(ca_key, _certificate(_name("lgcron-test-ca"), ca_key, None))
        serving_key = _key()
        serving = _certificate(_name("kube-apiserver"), serving_key, ca, server=True)
        kcm_key = _key()
        kcm = _certificate(_name("system:kube-controller-manager"), kcm_key, ca, client=True)
        sa_key = _key()
        _write_key(pki / "ca.key", ca_key)
        _write_cert(pki / "ca.crt", ca.cert)
        _write_key(pki / "apiserver.key", serving_key)
        _write_cert(pki / "apiserver.crt", serving)
        _write_key(pki / "kcm.key", kcm_key)
        _write_cert(pki / "kcm.crt", kcm)
        _write_key(pki / "sa.key", sa_key)
        (pki / "sa.pub").write_bytes(sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        admin_token = secrets.token_hex(24)
        (pki / "tokens.csv").write_text(f'{admin_token},lgcron-test-admin,lgcron-test-admin,"system:masters"\n')
        (pki / "tokens.csv").chmod(0o600)

        etcd_port, etcd_peer = free_port(), free_port()
        self.apiserver_port = self.apiserver_port or free_port()
        self._spawn("etcd", [
            str(etcd), "--name", "lgcron-test", "--data-dir", str(self.workdir / "etcd-data"),
            "--listen-client-urls", f"http://{LOOPBACK}:{etcd_port}", "--advertise-client-urls", f"http://{LOOPBACK}:{etcd_port}",
            "--listen-peer-urls", f"http://{LOOPBACK}:{etcd_peer}", "--initial-advertise-peer-urls", f"http://{LOOPBACK}:{etcd_peer}",
            "--initial-cluster", f"lgcron-test=http://{LOOPBACK}:{etcd_peer}", "--initial-cluster-state", "new",
            "--unsafe-no-fsync",  # a throwaway store: durability would only cost the tests time
            "--log-level", "warn"])
        self._wait("etcd", lambda: b'"health":"true"' in _http_get(f"http://{LOOPBACK}:{etcd_port}/health"))

        self._spawn("kube-apiserver", [
            str(apiserver), f"--bind-address={LOOPBACK}", f"--advertise-address={LOOPBACK}",
            f"--secure-port={self.apiserver_port}", f"--etcd-servers=http://{LOOPBACK}:{etcd_port}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}", f"--token-auth-file={pki / 'tokens.csv'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'sa.pub'}", f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--authorization-mode=RBAC", "--endpoint-reconciler-type=none",
            f"--cert-dir={self.workdir / 'apiserver-certs'}", "--profiling=false", "--v=1"])
        context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self._wait("kube-apiserver", lambda: _http_get(f"{self.url}/readyz", token=admin_token, context=context) == b"ok")

        self.kubeconfig = self.workdir / "kubeconfig"
        self.kubeconfig.write_text(_kubeconfig(self.url, pki / "ca.crt", user="lgcron-test-admin", token=admin_token))
        self.kubeconfig.chmod(0o600)

        kcm_binary = self.binary("kube-controller-manager")
        if self.controller_manager and kcm_binary:
            kcm_config = self.workdir / "kcm.kubeconfig"
            kcm_config.write_text(_kubeconfig(self.url, pki / "ca.crt", user="system:kube-controller-manager",
                                              cert=pki / "kcm.crt", key=pki / "kcm.key"))
            self._spawn("kube-controller-manager", [
                str(kcm_binary), f"--kubeconfig={kcm_config}", f"--bind-address={LOOPBACK}", "--secure-port=0",
                "--leader-elect=false", "--use-service-account-credentials=true",
                f"--service-account-private-key-file={pki / 'sa.key'}", f"--root-ca-file={pki / 'ca.crt'}",
                f"--cluster-signing-cert-file={pki / 'ca.crt'}", f"--cluster-signing-key-file={pki / 'ca.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}", "--profiling=false", "--v=1"])

    def _spawn(self, name: str, args: list[str]) -> None:
        log = self.log_path(name).open("wb")
        try:
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    cwd=self.workdir, preexec_fn=_die_with_parent)
        finally:
            log.close()
        self._processes.append((name, proc))

    def _wait(self, name: str, ready) -> None:
        proc = dict(self._processes)[name]
        deadline = time.monotonic() + self.start_timeout
        while True:
            with contextlib.suppress(OSError, ValueError):
                if ready():
                    return
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited during start-up (code {proc.returncode}):\n{self._tail(name)}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} not ready after {self.start_timeout:g}s:\n{self._tail(name)}")
            time.sleep(0.2)

    def _tail(self, name: str, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path(name).read_text(errors="replace").splitlines()[-lines:])
        return ""

    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self._processes if proc.poll() is None}

    def stop(self) -> None:
        """Stop the controller manager, the apiserver, then etcd (TERM, then KILL after 15 s); remove the workdir."""
        for name, proc in reversed(self._processes):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self._processes.clear()
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _http_get(url: str, token: str | None = None, context: ssl.SSLContext | None = None) -> bytes:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=2, context=context) as response:
        return response.read()


def _kubeconfig(server: str, ca: Path, *, user: str, token: str | None = None,
                cert: Path | None = None, key: Path | None = None) -> str:
    credentials = {"token": token} if token else {"client-certificate": str(cert), "client-key": str(key)}
    return json.dumps({  # JSON is YAML: every kubeconfig reader accepts it
        "apiVersion": "v1", "kind": "Config", "current-context": "lgcron-test",
        "clusters": [{"name": "lgcron-test", "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": "lgcron-test", "context": {"cluster": "lgcron-test", "user": user, "namespace": "default"}}],
    }, indent=2)
