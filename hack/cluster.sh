#!/usr/bin/env bash
# A real local Kubernetes control plane on loopback, for tests and the demo.
#
#   hack/cluster.sh up   [--dir DIR] [--nodes N] [--gpus-per-node G]
#   hack/cluster.sh env  [--dir DIR]
#   hack/cluster.sh down [--dir DIR]
#   hack/cluster.sh restart-apiserver [--dir DIR]
#
# up starts etcd, kube-apiserver (TLS, RBAC, service-account signing key), kube-controller-manager,
# kube-scheduler and kwok (fake GPU nodes), each on a free loopback port, waits until all are healthy,
# writes DIR/kubeconfig (admin) and prints `export KUBECONFIG=...`. Two DIRs can run side by side.
# down stops only the processes whose pid files are in DIR, then removes DIR. restart-apiserver
# stops kube-apiserver and starts it again on the same port and etcd (for client resilience tests).
set -euo pipefail
LOG_TAG=cluster
source "$(dirname "$0")/lib/common.sh"

cmd=${1:-}
[ $# -gt 0 ] && shift
dir=${MIXSERVE_CLUSTER_DIR:-$MIXSERVE_ROOT/.cluster}
nodes=2
gpus=8
while [ $# -gt 0 ]; do
  case $1 in
    --dir) dir=$2; shift 2 ;;
    --nodes) nodes=$2; shift 2 ;;
    --gpus-per-node) gpus=$2; shift 2 ;;
    *) die "unknown flag '$1' (usage: hack/cluster.sh up|down|env [--dir DIR] [--nodes N] [--gpus-per-node G])" ;;
  esac
done
mkdir -p "$(dirname "$dir")"
dir=$(cd "$(dirname "$dir")" && pwd)/$(basename "$dir")

# free_ports N: N distinct free loopback ports below the kernel's ephemeral range, so no outgoing
# connection can take one between this check and the component's bind; random, so two clusters
# rarely try the same ones. All N stay bound until all are chosen, so no two are equal. Another
# process can still bind one before its component does: `up` retries with new ports when a log says so.
free_ports() {
  python3 - "$1" <<'PY'
import random, socket, sys
want = int(sys.argv[1])
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
held = []
try:
    for _ in range(200 * want):
        if len(held) == want:
            break
        port = random.randrange(10000, max(low, 10000 + 4 * want))
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        held.append(s)
    if len(held) < want:
        raise SystemExit(f"only {len(held)} of {want} free loopback ports found")
    print(" ".join(str(s.getsockname()[1]) for s in held))
finally:
    for s in held:
        s.close()
PY
}

# start NAME CMD...: runs CMD in its own session with output to DIR/logs/NAME.log, records its pid.
start() {
  local name=$1; shift
  setsid "$@" > "$dir/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$dir/pids/$name.pid"
}

alive() { [ -f "$dir/pids/$1.pid" ] && kill -0 "$(cat "$dir/pids/$1.pid")" 2>/dev/null; }

# wait_for WHAT SECONDS CMD...: polls CMD until it succeeds; on timeout shows the log tail and fails.
wait_for() {
  local what=$1 limit=$2; shift 2
  local t0=$SECONDS
  until "$@" > /dev/null 2>&1; do
    if ! alive "$what"; then
      tail -n 20 "$dir/logs/$what.log" >&2 || true
      die "$what exited during start-up (log: $dir/logs/$what.log)"
    fi
    if (( SECONDS - t0 > limit )); then
      tail -n 20 "$dir/logs/$what.log" >&2 || true
      die "$what not healthy after ${limit}s (log: $dir/logs/$what.log)"
    fi
    sleep 0.3
  done
}

stop_all() {
  [ -d "$dir/pids" ] || return 0
  local f pid
  for f in "$dir"/pids/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    # Signal the whole session the process leads, so no child is left behind.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  local deadline=$((SECONDS + 30))
  for f in "$dir"/pids/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    while kill -0 "$pid" 2>/dev/null && (( SECONDS < deadline )); do sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    rm -f "$f"
  done
}

make_certs() {
  local pki=$dir/pki
  mkdir -p "$pki"
  (
    cd "$pki"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=mixserve-local-ca" \
      -keyout ca.key -out ca.crt 2>/dev/null
    # cert NAME SUBJECT [EXT]: a key and a certificate signed by the local CA.
    cert() {
      openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$1.key" -out "$1.csr" 2>/dev/null
      printf '%s\n' "${3:-extendedKeyUsage=clientAuth}" > "$1.ext"
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
        -extfile "$1.ext" -out "$1.crt" 2>/dev/null
    }
    cert apiserver "/CN=kube-apiserver" \
      "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc
extendedKeyUsage=serverAuth"
    cert admin "/O=system:masters/CN=mixserve-admin"
    cert controller-manager "/CN=system:kube-controller-manager"
    cert scheduler "/CN=system:kube-scheduler"
    cert kwok "/O=system:masters/CN=kwok"
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  )
}

# kubeconfig USER FILE: a kubeconfig for USER's client certificate.
write_kubeconfig() {
  local user=$1 file=$2
  cat > "$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: mixserve-local
  cluster:
    server: https://127.0.0.1:$apiserver_port
    certificate-authority: $dir/pki/ca.crt
users:
- name: $user
  user:
    client-certificate: $dir/pki/$user.crt
    client-key: $dir/pki/$user.key
contexts:
- name: mixserve-local
  context: {cluster: mixserve-local, user: $user, namespace: default}
current-context: mixserve-local
EOF
}

node_yaml() {
  local i=$1
  cat <<EOF
apiVersion: v1
kind: Node
metadata:
  name: kwok-gpu-$i
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    type: kwok
    kubernetes.io/hostname: kwok-gpu-$i
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3
    nvidia.com/gpu.count: "$gpus"
status:
  allocatable: {cpu: "64", memory: 512Gi, pods: "110", nvidia.com/gpu: "$gpus"}
  capacity: {cpu: "64", memory: 512Gi, pods: "110", nvidia.com/gpu: "$gpus"}
---
EOF
}

# start_apiserver: kube-apiserver on DIR/apiserver.port, backed by the etcd on DIR/etcd.port.
start_apiserver() {
  local pki=$dir/pki etcd_port apiserver_port
  etcd_port=$(cat "$dir/etcd.port"); apiserver_port=$(cat "$dir/apiserver.port")
  start kube-apiserver "$MIXSERVE_BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$apiserver_port" \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --service-account-issuer https://kubernetes.default.svc \
    --authorization-mode RBAC --service-cluster-ip-range 10.96.0.0/16 \
    --allow-privileged=true --cert-dir "$dir/apiserver-certs" --profiling=false \
    --enable-priority-and-fairness=false --endpoint-reconciler-type none
}

# restart_apiserver: SIGTERM (SIGKILL after 5 s: a graceful stop waits for long watches), then start.
restart_apiserver() {
  alive kube-apiserver || die "no kube-apiserver running in $dir"
  local pid t0=$SECONDS
  pid=$(cat "$dir/pids/kube-apiserver.pid")
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do
    (( SECONDS - t0 < 5 )) || kill -KILL -- "-$pid" 2>/dev/null || true
    sleep 0.2
  done
  start_apiserver
  wait_for kube-apiserver 90 "$MIXSERVE_BIN/kubectl" --kubeconfig "$dir/kubeconfig" --request-timeout 5s get --raw /readyz
  log "kube-apiserver restarted in $((SECONDS - t0))s"
}

up() {
  for b in etcd kube-apiserver kube-controller-manager kube-scheduler kwok kubectl; do
    [ -x "$MIXSERVE_BIN/$b" ] || die "binary '$b' missing in $MIXSERVE_BIN (run hack/setup.sh)"
  done
  local stages=$MIXSERVE_CACHE/kwok-stages/$KWOK_VERSION/stages.yaml
  [ -f "$stages" ] || die "kwok stages missing at $stages (run hack/setup.sh)"
  if [ -d "$dir/pids" ] && ls "$dir"/pids/*.pid > /dev/null 2>&1; then
    die "a cluster already runs in $dir (hack/cluster.sh down --dir $dir first)"
  fi
  rm -rf "$dir"
  mkdir -p "$dir/logs" "$dir/pids" "$dir/etcd"
  local t0=$SECONDS
  make_certs

  local etcd_port etcd_peer_port kcm_port sched_port kwok_port ports
  ports=$(free_ports 6)
  # Tests of the retry below choose the first start's ports (etcd, etcd peer, kube-apiserver,
  # kube-controller-manager, kube-scheduler, kwok), one of them already taken.
  if [ "${attempt:-1}" = 1 ] && [ -n "${MIXSERVE_CLUSTER_FIRST_PORTS:-}" ]; then ports=$MIXSERVE_CLUSTER_FIRST_PORTS; fi
  read -r etcd_port etcd_peer_port apiserver_port kcm_port sched_port kwok_port <<< "$ports"
  echo "$apiserver_port" > "$dir/apiserver.port"

  start etcd "$MIXSERVE_BIN/etcd" --name local --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster "local=http://127.0.0.1:$etcd_peer_port" --log-level warn \
    --quota-backend-bytes 4294967296
  wait_for etcd 30 curl -sf --max-time 2 "http://127.0.0.1:$etcd_port/health"

  local pki=$dir/pki
  echo "$etcd_port" > "$dir/etcd.port"
  start_apiserver
  write_kubeconfig admin "$dir/kubeconfig"
  local kc=$dir/kubeconfig
  wait_for kube-apiserver 90 "$MIXSERVE_BIN/kubectl" --kubeconfig "$kc" --request-timeout 5s get --raw /readyz

  write_kubeconfig controller-manager "$dir/controller-manager.kubeconfig"
  write_kubeconfig scheduler "$dir/scheduler.kubeconfig"
  write_kubeconfig kwok "$dir/kwok.kubeconfig"

  start kube-controller-manager "$MIXSERVE_BIN/kube-controller-manager" \
    --kubeconfig "$dir/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$dir/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$dir/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$kcm_port" --leader-elect=false \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
    --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
    --use-service-account-credentials=true --controllers '*,-nodeipam,-cloud-node-lifecycle' \
    --node-monitor-grace-period 40s
  start kube-scheduler "$MIXSERVE_BIN/kube-scheduler" \
    --kubeconfig "$dir/scheduler.kubeconfig" \
    --authentication-kubeconfig "$dir/scheduler.kubeconfig" \
    --authorization-kubeconfig "$dir/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$sched_port" --leader-elect=false
  # Pod IPs are fake labels that kwok writes into pod status: nothing routes to them and no test
  # may connect to one (reach pods through the API server's loopback address only). They cannot be
  # loopback addresses, which the EndpointSlice controller refuses, so Services would get no endpoints.
  start kwok "$MIXSERVE_BIN/kwok" --kubeconfig "$dir/kwok.kubeconfig" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --cidr 10.244.0.1/16 --node-ip 127.0.0.1 --server-address "127.0.0.1:$kwok_port" \
    --config "$stages"

  wait_for kube-controller-manager 60 curl -skf --max-time 2 "https://127.0.0.1:$kcm_port/healthz"
  wait_for kube-scheduler 60 curl -skf --max-time 2 "https://127.0.0.1:$sched_port/healthz"
  wait_for kube-controller-manager 60 "$MIXSERVE_BIN/kubectl" --kubeconfig "$kc" --request-timeout 5s get serviceaccount default

  local i nodes_yaml=""
  for ((i = 0; i < nodes; i++)); do nodes_yaml+=$(node_yaml "$i")$'\n'; done
  printf '%s' "$nodes_yaml" | "$MIXSERVE_BIN/kubectl" --kubeconfig "$kc" apply -f - > /dev/null
  wait_for kwok 60 "$MIXSERVE_BIN/kubectl" --kubeconfig "$kc" wait --for=condition=Ready node --all --timeout=1s

  log "control plane up in $((SECONDS - t0))s: https://127.0.0.1:$apiserver_port, $nodes kwok node(s) with $gpus nvidia.com/gpu each (logs: $dir/logs)"
  echo "export KUBECONFIG=$kc"
}

case $cmd in
  up)
    # A chosen port can be taken by another process before its component binds it (the check and
    # the bind are seconds apart); that start is thrown away and tried again on new ports.
    trap 'rc=$?; if [ $rc -ne 0 ]; then stop_all; fi; exit $rc' EXIT
    for attempt in 1 2 3; do
      set +e
      (set -e; up)
      rc=$?
      set -e
      [ $rc -eq 0 ] && break
      grep -qs "address already in use" "$dir"/logs/*.log && [ "$attempt" -lt 3 ] || exit $rc
      stop_all
      log "a chosen port was taken before its component bound it; starting again on new ports"
    done
    trap - EXIT
    ;;
  env)
    [ -f "$dir/kubeconfig" ] || die "no cluster in $dir (hack/cluster.sh up --dir $dir)"
    echo "export KUBECONFIG=$dir/kubeconfig"
    ;;
  restart-apiserver)
    restart_apiserver
    ;;
  down)
    stop_all
    rm -rf "$dir"
    log "stopped and removed $dir"
    ;;
  *) die "usage: hack/cluster.sh up|down|env|restart-apiserver [--dir DIR] [--nodes N] [--gpus-per-node G]" ;;
esac
