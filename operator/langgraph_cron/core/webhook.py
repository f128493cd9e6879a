"""The validating admission webhook's settings, and the TLS it serves with (a CA kept in a Secret).

The webhook is on when the operator knows how the apiserver reaches it: through a Service
(LGCRON_WEBHOOK_SERVICE=namespace/name, the chart and manifests set it) or at a URL host
(LGCRON_WEBHOOK_HOST, for an apiserver outside the cluster, as in the tests). Every replica serves it;
the apiserver's Service spreads requests over them.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

DEFAULT_CONFIGURATION = "validation.lgcron.io"
DEFAULT_TLS_SECRET = "lgcron-webhook-tls"
# A leaf certificate is re-issued (same CA, so the caBundle stays) at start-up when less remains.
RENEW_BEFORE = datetime.timedelta(days=30)
LEAF_LIFETIME = datetime.timedelta(days=365)
CA_LIFETIME = datetime.timedelta(days=3650)


class WebhookSettings(BaseModel):
    service: str | None = Field(
        default=None, description="LGCRON_WEBHOOK_SERVICE=namespace/name: the Service the apiserver calls."
    )
    service_port: int = Field(default=443, ge=1, le=65535, description="LGCRON_WEBHOOK_SERVICE_PORT: its port.")
    host: str | None = Field(
        default=None, description="LGCRON_WEBHOOK_HOST: call https://HOST:PORT instead (an apiserver outside the cluster)."
    )
    port: int = Field(default=9443, ge=1, le=65535, description="LGCRON_WEBHOOK_PORT: the port the operator listens on.")
    listen: str = Field(default="0.0.0.0", description="LGCRON_WEBHOOK_LISTEN: the address it listens on.")
    failure_policy: Literal["Ignore", "Fail"] = Field(
        default="Ignore",
        description=(
            "LGCRON_WEBHOOK_FAILURE_POLICY: Ignore (an operator that is down blocks nothing; reconcile still reports "
            "InvalidSpec) or Fail (applies are refused while no replica answers)."
        ),
    )
    timeout_seconds: int = Field(
        default=5, ge=1, le=30, description="LGCRON_WEBHOOK_TIMEOUT_SECONDS: how long the apiserver waits for an answer."
    )
    configuration: str = Field(
        default=DEFAULT_CONFIGURATION,
        description="LGCRON_WEBHOOK_CONFIGURATION: the ValidatingWebhookConfiguration the operator keeps (and only it).",
    )
    cert_dir: str | None = Field(
        default=None,
        description=(
            "LGCRON_WEBHOOK_CERT_DIR: a directory with tls.crt, tls.key and ca.crt (a cert-manager Certificate's "
            "Secret, mounted); unset: the operator keeps its own CA in LGCRON_WEBHOOK_TLS_SECRET."
        ),
    )
    tls_secret: str | None = Field(
        default=None,
        description=(
            f"LGCRON_WEBHOOK_TLS_SECRET=namespace/name: where the self-signed CA and certificate live "
            f"(default: {DEFAULT_TLS_SECRET} in the Service's namespace)."
        ),
    )

    namespaces: list[str] | None = Field(
        default=None,
        description=(
            "LGCRON_WEBHOOK_NAMESPACES: comma-separated namespaces whose objects the webhook reviews (an operator "
            "that watches only these; `lgcron run -n` sets it); unset: every namespace."
        ),
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WebhookSettings:
        env = os.environ if environ is None else environ
        names = {
            "service": "LGCRON_WEBHOOK_SERVICE", "service_port": "LGCRON_WEBHOOK_SERVICE_PORT",
            "host": "LGCRON_WEBHOOK_HOST", "port": "LGCRON_WEBHOOK_PORT", "listen": "LGCRON_WEBHOOK_LISTEN",
            "failure_policy": "LGCRON_WEBHOOK_FAILURE_POLICY", "timeout_seconds": "LGCRON_WEBHOOK_TIMEOUT_SECONDS",
            "configuration": "LGCRON_WEBHOOK_CONFIGURATION", "cert_dir": "LGCRON_WEBHOOK_CERT_DIR",
            "tls_secret": "LGCRON_WEBHOOK_TLS_SECRET",
        }
        values: dict[str, object] = {field: env[name] for field, name in names.items() if env.get(name)}
        if env.get("LGCRON_WEBHOOK_NAMESPACES"):
            values["namespaces"] = [n.strip() for n in env["LGCRON_WEBHOOK_NAMESPACES"].split(",") if n.strip()]
        settings = cls.model_validate(values)
        if "." not in settings.configuration:
            # kopf names each webhook HANDLER.<configuration>; the apiserver wants at least three parts.
            raise ValueError(f"LGCRON_WEBHOOK_CONFIGURATION must contain a dot, e.g. validation.lgcron.io, "
                             f"got {settings.configuration!r}")
        for field, name in (("service", "LGCRON_WEBHOOK_SERVICE"), ("tls_secret", "LGCRON_WEBHOOK_TLS_SECRET")):
            value = getattr(settings, field)
            if value is not None and not _is_namespaced_name(value):
                raise ValueError(f"{name} must be NAMESPACE/NAME, got {value!r}")
        return settings

    def namespace_selector(self) -> dict[str, object] | None:
        """The webhooks' namespaceSelector: only the namespaces this operator watches, when it names them."""
        if not self.namespaces:
            return None
        return {"matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": sorted(self.namespaces)}]}

    @property
    def enabled(self) -> bool:
        return bool(self.service or self.host)

    @property
    def service_ref(self) -> tuple[str, str] | None:
        if not self.service:
            return None
        namespace, _, name = self.service.partition("/")
        return namespace, name

    @property
    def secret_ref(self) -> tuple[str, str]:
        if self.tls_secret:
            namespace, _, name = self.tls_secret.partition("/")
            return namespace, name
        namespace = self.service_ref[0] if self.service_ref else os.environ.get("POD_NAMESPACE", "default")
        return namespace, DEFAULT_TLS_SECRET

    @property
    def hostnames(self) -> list[str]:
        """The names the certificate must cover: the Service's DNS names, or the URL host."""
        names = []
        if self.service_ref:
            namespace, name = self.service_ref
            names += [f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local", f"{name}.{namespace}"]
        if self.host:
            names.append(self.host)
        return names


def _is_namespaced_name(value: str) -> bool:
    namespace, sep, name = value.partition("/")
    return bool(sep and namespace and name and "/" not in name)


# ---------------------------------------------------------------- the self-signed CA and its certificate


@dataclass(frozen=True)
class WebhookTls:
    """PEM texts: the CA (its certificate is the caBundle), and the serving certificate it signed."""

    ca_cert: str
    ca_key: str
    cert: str
    key: str

    def as_secret_data(self) -> dict[str, str]:
        return {"ca.crt": self.ca_cert, "ca.key": self.ca_key, "tls.crt": self.cert, "tls.key": self.key}

    @classmethod
    def from_secret_data(cls, data: Mapping[str, str]) -> WebhookTls | None:
        try:
            return cls(data["ca.crt"], data["ca.key"], data["tls.crt"], data["tls.key"])
        except KeyError:
            return None


def issue(hostnames: list[str], ca: WebhookTls | None = None, now: datetime.datetime | None = None) -> WebhookTls:
    """A serving certificate for `hostnames`, signed by `ca`'s CA (a new CA when None)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = now or datetime.datetime.now(datetime.UTC)

    def pem_key(key: ec.EllipticCurvePrivateKey) -> str:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()

    if ca is None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lgcron webhook CA")])
        ca_cert = (
            x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + CA_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        ca_pem, ca_key_pem = ca_cert.public_bytes(serialization.Encoding.PEM).decode(), pem_key(ca_key)
    else:
        ca_pem, ca_key_pem = ca.ca_cert, ca.ca_key
        ca_cert = x509.load_pem_x509_certificate(ca_pem.encode())
        ca_key = serialization.load_pem_private_key(ca_key_pem.encode(), password=None)

    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hostnames:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])]))
        .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + LEAF_LIFETIME)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return WebhookTls(ca_pem, ca_key_pem, cert.public_bytes(serialization.Encoding.PEM).decode(), pem_key(key))


def still_serves(tls: WebhookTls, hostnames: list[str], now: datetime.datetime | None = None) -> bool:
    """Whether the certificate covers every hostname and has more than RENEW_BEFORE left, CA included."""
    from cryptography import x509

    now = now or datetime.datetime.now(datetime.UTC)
    try:
        cert = x509.load_pem_x509_certificate(tls.cert.encode())
        ca = x509.load_pem_x509_certificate(tls.ca_cert.encode())
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    covered = {str(n) for n in sans.get_values_for_type(x509.DNSName)}
    covered |= {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    wanted = {str(ipaddress.ip_address(h)) if _is_ip(h) else h for h in hostnames}
    fresh = min(cert.not_valid_after_utc, ca.not_valid_after_utc) - now > RENEW_BEFORE
    return wanted <= covered and fresh and cert.issuer == ca.subject


def reusable_ca(tls: WebhookTls | None, now: datetime.datetime | None = None) -> WebhookTls | None:
    """`tls` when its CA can sign a renewed certificate (so the caBundle stays), else None (a new CA)."""
    from cryptography import x509

    if tls is None:
        return None
    now = now or datetime.datetime.now(datetime.UTC)
    try:
        ca = x509.load_pem_x509_certificate(tls.ca_cert.encode())
    except ValueError:
        return None
    return tls if ca.not_valid_after_utc - now > LEAF_LIFETIME else None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
