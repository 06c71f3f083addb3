#!/usr/bin/env bash
# Install everything podnet needs on a fresh Debian machine (run as root). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
APT_PACKAGES=(iproute2 nftables conntrack etcd-server containernetworking-plugins dnsutils iperf3 procps iputils-ping curl netcat-openbsd)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check -e '.[dev]' 2>&1 | grep -v -E '^(WARNING|DEPRECATION)' || true
python3 -c 'import podnet' || { echo "setup: podnet did not install" >&2; exit 1; }
# Byte-compile once: every podnet process (CLI calls, agents, CNI plugins) then starts from
# .pyc files even where PYTHONDONTWRITEBYTECODE keeps the interpreter from writing them.
python3 -m compileall -q src >/dev/null
