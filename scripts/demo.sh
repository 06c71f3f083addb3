#!/usr/bin/env bash
# The main job: set up a fresh machine, bring up a 3-node podnet cluster, apply the
# example app (examples/app), and show pods talking by pod IP with their real source
# IPs, through a ClusterIP Service and through a NodePort from outside. Then tear down
# (pass --keep to leave the cluster running).
set -euo pipefail
cd "$(dirname "$0")/.."
KEEP=0; [ "${1:-}" = "--keep" ] && KEEP=1
./scripts/setup.sh
export PODNET_CLUSTER="${PODNET_CLUSTER:-demo}"
NETWORK="${PODNET_NETWORK:-vxlan}"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
if [ "$KEEP" = 0 ]; then trap 'step "podnet down"; podnet down' EXIT; fi

step "podnet up --nodes 3 --network $NETWORK"
podnet up --nodes 3 --network "$NETWORK"

step "podnet apply -f examples/app"
podnet apply -f examples/app

step "waiting for the pods to run"
for _ in $(seq 1 120); do
  running=$(podnet get pods -n shop -o json | python3 -c 'import json,sys; print(sum(1 for p in json.load(sys.stdin)["items"] if p["status"].get("phase")=="Running" and p["status"].get("podIP")))')
  [ "$running" -ge 7 ] && break
  sleep 0.5
done
podnet get pods -n shop -o wide
podnet get svc,endpointslices -n shop 2>/dev/null || { podnet get svc -n shop; podnet get endpointslices -n shop; }

json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
FRONTEND=$(podnet get pods -n shop -l app=frontend -o json | json 'd["items"][0]["metadata"]["name"]')
FRONTEND_IP=$(podnet get pods -n shop -l app=frontend -o json | json 'd["items"][0]["status"]["podIP"]')
BACKENDS=$(podnet get pods -n shop -l app=backend -o json | json '" ".join(p["status"]["podIP"] for p in d["items"])')
BACKEND_VIP=$(podnet get svc backend -n shop -o json | json 'd["spec"]["clusterIP"]')
NODE_IP=$(podnet get nodes -o json | json '[a["address"] for a in d["items"][0]["status"]["addresses"] if a["type"]=="InternalIP"][0]')

step "pod to pod by pod IP: each backend sees the frontend's own IP ($FRONTEND_IP)"
for ip in $BACKENDS; do
  printf '%s -> %s:8080/clientip  =>  ' "$FRONTEND" "$ip"
  podnet exec -n shop "$FRONTEND" -- curl -s --max-time 3 "http://$ip:8080/clientip"; echo
done

step "through the backend ClusterIP $BACKEND_VIP (nftables DNAT, random endpoint per connection)"
for _ in 1 2 3 4 5 6; do
  podnet exec -n shop "$FRONTEND" -- curl -s --max-time 3 "http://$BACKEND_VIP:8080/hostname"; echo
done

step "by name through the cluster DNS (kube-dns at 10.96.0.10, search path of namespace shop)"
podnet exec -n shop "$FRONTEND" -- curl -s --max-time 3 "http://backend:8080/hostname"; echo
BACKEND=$(podnet get pods -n shop -l app=backend -o json | json 'd["items"][0]["metadata"]["name"]')
printf 'backend -> db-0.db:5432 (allowed by NetworkPolicy db-from-backend): '
podnet exec -n shop "$BACKEND" -- curl -s --max-time 3 "http://db-0.db:5432/hostname"; echo
printf 'frontend -> db-0.db:5432 (no policy allows it): '
podnet exec -n shop "$FRONTEND" -- curl -s --max-time 2 "http://db-0.db:5432/hostname" \
  || echo "blocked (curl exit $?)"
step "podnet explain shop/frontend shop/db:5432   (why)"
podnet explain shop/frontend shop/db:5432 || true

step "from the external namespace to the frontend NodePort $NODE_IP:30080"
podnet exec --external -- curl -s --max-time 3 "http://$NODE_IP:30080/"; echo

if [ "$KEEP" = 1 ]; then
  step "cluster '$PODNET_CLUSTER' left running: podnet status; podnet down when done"
fi
