"""What kubectl needs to reach a cluster's API server: a bearer token, the cluster CA and
a kubeconfig, all in the cluster's state directory.

    <state>/apiserver.token   0600, made once (random), reused across restarts
    <state>/pki/              the CA and serving certificate (podnet.apiserver.tls)
    <state>/kubeconfig        0600: server https://HOST:PORT, the CA, the token,
                              context and cluster named ``podnet-<cluster>``

``export KUBECONFIG=<state>/kubeconfig`` and kubectl talks to podnet.
"""

from __future__ import annotations

import base64
import os
import secrets
import socket
from pathlib import Path

import yaml

from podnet.api.config import state_dir

TOKEN_FILE = "apiserver.token"
WILDCARDS = ("", "0.0.0.0", "::")


def token_path(cluster: str) -> Path:
    return state_dir(cluster) / TOKEN_FILE


def kubeconfig_path(cluster: str) -> Path:
    return state_dir(cluster) / "kubeconfig"


def pki_dir(cluster: str) -> Path:
    return state_dir(cluster) / "pki"


def context_name(cluster: str) -> str:
    return f"podnet-{cluster}"


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def ensure_token(cluster: str) -> str:
    """The cluster's API token, made (0600) on first use."""
    path = token_path(cluster)
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        token = ""
    if not token:
        token = secrets.token_urlsafe(32)
        _write_private(path, token + "\n")
    return token


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def server_url(host: str, port: int) -> str:
    host = "127.0.0.1" if host in WILDCARDS else host
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def render(cluster: str, server: str, ca_pem: bytes, token: str) -> str:
    """The kubeconfig text for one cluster: one cluster, one user, one (current) context."""
    name = context_name(cluster)
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {
            "server": server,
            "certificate-authority-data": base64.b64encode(ca_pem).decode()}}],
        "users": [{"name": f"{name}-admin", "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": f"{name}-admin",
                                                "namespace": "default"}}],
        "current-context": name,
        "preferences": {},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def write(cluster: str, server: str, ca_cert: Path, token: str) -> Path:
    """Write ``<state>/kubeconfig`` (0600) and return its path."""
    path = kubeconfig_path(cluster)
    _write_private(path, render(cluster, server, ca_cert.read_bytes(), token))
    return path
