#!/usr/bin/env bash
# The main job: set up a fresh machine, start a podnet control plane, apply the
# example app, and list what the controllers made. Then stop and clean up.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
CLUSTER="${PODNET_CLUSTER:-demo}"
export PODNET_CLUSTER="$CLUSTER"
export PODNET_STATE_ROOT="${PODNET_STATE_ROOT:-$(mktemp -d /tmp/podnet-demo.XXXXXX)}"
LOG="$PODNET_STATE_ROOT/controlplane.log"

echo "== starting the control plane for cluster '$CLUSTER' (state in $PODNET_STATE_ROOT)"
mkdir -p "$PODNET_STATE_ROOT"
podnet controlplane --cluster "$CLUSTER" >"$LOG" 2>&1 &
CP=$!
cleanup() { kill "$CP" 2>/dev/null || true; wait "$CP" 2>/dev/null || true; rm -rf "$PODNET_STATE_ROOT"; }
trap cleanup EXIT
for _ in $(seq 1 100); do [ -S "$PODNET_STATE_ROOT/$CLUSTER/apiserver.sock" ] && break; sleep 0.1; done

echo "== podnet apply -f examples/app"
podnet apply -f examples/app
sleep 2
for kind in namespaces deployments replicasets statefulsets services endpointslices networkpolicies; do
  echo; echo "== podnet get $kind -A"; podnet get "$kind" -A -o wide || true
done
echo; echo "== podnet get pods -n shop -o wide   (Pending: no nodes until 'podnet up' exists)"
podnet get pods -n shop -o wide
echo; echo "== offline: the same manifests through the same controllers, nodes and IPs included"
podnet offline -f examples/app pods -o wide
echo; podnet offline -f examples/app endpointslices
echo; echo "done: control-plane log in $LOG (removed on exit)"
