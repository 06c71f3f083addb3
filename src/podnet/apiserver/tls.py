"""The API server's certificates: a self-signed cluster CA and a serving certificate it signs.

``ensure(pki_dir, ips, dns_names)`` keeps in ``pki_dir`` (0700)::

    ca.crt  ca.key          the cluster CA (10 years; kept for good: kubeconfigs trust it)
    apiserver.crt  .key     the serving certificate (1 year), for 127.0.0.1, localhost and
                            the ``kubernetes`` Service names and ClusterIP

Keys are written 0600. Existing files are reused across restarts; the serving
certificate alone is made again (signed by the same CA) when it is close to
expiry or misses a name asked for, so a kubeconfig written once stays valid.
Keys are ECDSA P-256, which Go's crypto/tls (kubectl) and OpenSSL both accept.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
SERVING_DAYS = 365
RENEW_BEFORE = datetime.timedelta(days=30)
DEFAULT_IPS = ("127.0.0.1",)
DEFAULT_DNS = ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
               "kubernetes.default.svc.cluster.local")

Key = ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class PKI:
    """The files of one cluster's PKI directory."""

    dir: Path

    @property
    def ca_cert(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca.key"

    @property
    def cert(self) -> Path:
        return self.dir / "apiserver.crt"

    @property
    def key(self) -> Path:
        return self.dir / "apiserver.key"

    def server_context(self) -> ssl.SSLContext:
        """The TLS context the API server's TCP listener serves with."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.cert, self.key)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """A TLS context that trusts exactly this cluster's CA (for podnet's own client)."""
        return ssl.create_default_context(cafile=str(self.ca_cert))


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _new_key() -> Key:
    return ec.generate_private_key(ec.SECP256R1())


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _key_pem(key: Key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "podnet"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _make_ca(cluster: str) -> tuple[Key, x509.Certificate]:
    key = _new_key()
    name = _name(f"podnet-ca-{cluster}")
    now = _now()
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def _make_serving(ca_key: Key, ca: x509.Certificate, ips: Sequence[str],
                  dns_names: Sequence[str]) -> tuple[Key, x509.Certificate]:
    key = _new_key()
    now = _now()
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    cert = (x509.CertificateBuilder()
            .subject_name(_name("kube-apiserver")).issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=SERVING_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True,
                                         key_cert_sign=False, crl_sign=False,
                                         content_commitment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    return key, cert


def _load_ca(pki: PKI) -> tuple[Key, x509.Certificate] | None:
    try:
        cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
        key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    except (OSError, ValueError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or cert.not_valid_after_utc < _now():
        return None
    return key, cert


def _serving_ok(pki: PKI, ca: x509.Certificate, ips: Sequence[str],
                dns_names: Sequence[str]) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(pki.cert.read_bytes())
        serialization.load_pem_private_key(pki.key.read_bytes(), password=None)
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return False
    have_ips = {str(i) for i in sans.get_values_for_type(x509.IPAddress)}
    have_dns = set(sans.get_values_for_type(x509.DNSName))
    return (cert.issuer == ca.subject and cert.not_valid_after_utc - RENEW_BEFORE > _now()
            and set(ips) <= have_ips and set(dns_names) <= have_dns)


def ensure(pki_dir: str | Path, cluster: str = "podnet", ips: Sequence[str] = DEFAULT_IPS,
           dns_names: Sequence[str] = DEFAULT_DNS) -> PKI:
    """The cluster's PKI in ``pki_dir``, made or renewed as needed (see the module doc)."""
    pki = PKI(Path(pki_dir))
    pki.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(pki.dir, 0o700)
    loaded = _load_ca(pki)
    if loaded is None:
        ca_key, ca = _make_ca(cluster)
        _write(pki.ca_key, _key_pem(ca_key), 0o600)
        _write(pki.ca_cert, _cert_pem(ca), 0o644)
    else:
        ca_key, ca = loaded
    if loaded is None or not _serving_ok(pki, ca, ips, dns_names):
        key, cert = _make_serving(ca_key, ca, ips, dns_names)
        _write(pki.key, _key_pem(key), 0o600)
        _write(pki.cert, _cert_pem(cert), 0o644)
    return pki
