#!/usr/bin/env bash
# Benchmark (not a test) of mixserve-operator on the local control plane: N LLMServices at once.
#
#   hack/bench-operator.sh [--count N] [--concurrency C] [--build-dir DIR] [--keep]
#
# Starts hack/cluster.sh (5 kwok nodes with 128 GPUs each, so every pod fits) and the operator from
# DIR (default build/), creates N LLMServices with one `kubectl apply --server-side` of a multi-document
# YAML, and prints:
#   - per LLMService, the time from its creation (its ADDED watch event) until its Service, Deployment
#     and PodDisruptionBudget all exist (their ADDED events): p50 / p99 / max; and until it is Ready;
#   - the operator's peak and steady RSS and its CPU time (from /proc);
#   - API requests and writes per reconcile at steady state (over 3 resync periods after convergence,
#     from the operator's /metrics).
# Targets (issue 6): p99 < 2 s, RSS < 50 MB, 0 writes per resync.
set -euo pipefail
LOG_TAG=bench-operator
source "$(dirname "$0")/lib/common.sh"

count=500
concurrency=16
build_dir=$MIXSERVE_ROOT/build
keep=0
resync=5
while [ $# -gt 0 ]; do
  case $1 in
    --count) count=$2; shift 2 ;;
    --concurrency) concurrency=$2; shift 2 ;;
    --build-dir) build_dir=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) die "unknown flag '$1' (usage: hack/bench-operator.sh [--count N] [--concurrency C] [--build-dir DIR] [--keep])" ;;
  esac
done
operator=$build_dir/mixserve-operator
[ -x "$operator" ] || die "$operator missing (cmake --build $build_dir --target mixserve-operator)"

dir=$(mktemp -d /tmp/mixserve-bench-operator.XXXXXX)
op_pid=""
cleanup() {
  if [ -n "$op_pid" ] && kill -0 "$op_pid" 2>/dev/null; then kill -TERM "$op_pid"; wait "$op_pid" || true; fi
  if [ $keep -eq 0 ]; then "$MIXSERVE_ROOT/hack/cluster.sh" down --dir "$dir/cluster" > /dev/null 2>&1 || true; rm -rf "$dir"; fi
}
trap cleanup EXIT

"$MIXSERVE_ROOT/hack/cluster.sh" up --dir "$dir/cluster" --nodes 5 --gpus-per-node 128 > /dev/null
kc=$dir/cluster/kubeconfig
kubectl=$MIXSERVE_BIN/kubectl
"$kubectl" --kubeconfig "$kc" apply -f "$MIXSERVE_ROOT/crds/mixserve.io_llmservices.yaml" > /dev/null
"$kubectl" --kubeconfig "$kc" wait --for=condition=Established crd/llmservices.mixserve.io --timeout=60s > /dev/null

metrics_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$operator" --kubeconfig "$kc" --runtime-image mixserve:bench --concurrency "$concurrency" --resync-period "${resync}s" \
  --metrics-bind-address "127.0.0.1:$metrics_port" --health-probe-bind-address 0 2> "$dir/operator.log" &
op_pid=$!
log "cluster up, operator pid $op_pid (log $dir/operator.log); creating $count LLMServices"

BENCH_COUNT=$count BENCH_KUBECTL=$kubectl BENCH_KUBECONFIG=$kc BENCH_PID=$op_pid BENCH_RESYNC=$resync \
BENCH_METRICS=http://127.0.0.1:$metrics_port/metrics BENCH_CONCURRENCY=$concurrency \
  "$VENV/bin/python" - <<'PY'
import json, os, subprocess, threading, time, urllib.request

N = int(os.environ["BENCH_COUNT"])
KUBECTL, KC = os.environ["BENCH_KUBECTL"], os.environ["BENCH_KUBECONFIG"]
PID, RESYNC, METRICS = int(os.environ["BENCH_PID"]), int(os.environ["BENCH_RESYNC"]), os.environ["BENCH_METRICS"]
TICK = os.sysconf("SC_CLK_TCK")
seen = {}  # (resource, name) -> first time seen
ready = {}
lock = threading.Lock()


def watch(resource, on_line):
    # One `kubectl get -w` per resource; each event is one line "NAME READY-STATUS", stamped on arrival.
    columns = "NAME:.metadata.name"
    if resource == "llmservices":
        columns += ",READY:.status.conditions[?(@.type==\"Ready\")].status"
    proc = subprocess.Popen([KUBECTL, "--kubeconfig", KC, "get", resource, "-w", "--no-headers", "-o",
                             f"custom-columns={columns}"], stdout=subprocess.PIPE, text=True, bufsize=1)
    for line in proc.stdout:
        on_line(time.monotonic(), line.split())
    return proc


def child_seen(resource):
    def on_line(t, fields):
        with lock:
            seen.setdefault((resource, fields[0]), t)
    return on_line


def service_seen(t, fields):
    with lock:
        seen.setdefault(("llmservices", fields[0]), t)
        if len(fields) > 1 and fields[1] == "True":
            ready.setdefault(fields[0], t)


for resource, handler in (("llmservices", service_seen), ("deployments", child_seen("deployments")),
                          ("services", child_seen("services")), ("poddisruptionbudgets", child_seen("poddisruptionbudgets"))):
    threading.Thread(target=watch, args=(resource, handler), daemon=True).start()
time.sleep(2)  # the watches are established


def proc_stats():
    status = dict(l.split(":", 1) for l in open(f"/proc/{PID}/status").read().splitlines() if ":" in l)
    stat = open(f"/proc/{PID}/stat").read().rsplit(")", 1)[1].split()
    cpu = (int(stat[11]) + int(stat[12])) / TICK
    return int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024, cpu


def metrics():
    out = {}
    for line in urllib.request.urlopen(METRICS, timeout=10).read().decode().splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def total(m, prefix, skip=()):
    return sum(v for k, v in m.items() if k.startswith(prefix) and not any(s in k for s in skip))


names = [f"bench-{i:04d}" for i in range(N)]
docs = [json.dumps({"apiVersion": "mixserve.io/v1alpha1", "kind": "LLMService",
                    "metadata": {"name": n, "namespace": "default"},
                    "spec": {"model": {"uri": "hf://mistralai/Mistral-7B-Instruct-v0.3"},
                             "runtime": {"tensorParallel": 1}, "replicas": 1}}) for n in names]
rss0, _, cpu0 = proc_stats()
t_apply = time.monotonic()
subprocess.run([KUBECTL, "--kubeconfig", KC, "apply", "--server-side", "-f", "-"], input="\n---\n".join(docs),
               text=True, check=True, capture_output=True)
apply_s = time.monotonic() - t_apply

kinds = ("deployments", "services", "poddisruptionbudgets")
deadline = time.monotonic() + 300
while time.monotonic() < deadline:
    with lock:
        done = all((k, n) in seen for n in names for k in kinds + ("llmservices",))
    if done:
        break
    time.sleep(0.2)
t_children = time.monotonic() - t_apply
_, hwm_children, cpu_children = proc_stats()
while time.monotonic() < deadline and len(ready) < N:
    time.sleep(0.5)
t_ready = time.monotonic() - t_apply


def percentiles(values):
    values = sorted(values)
    if not values:
        return float("nan"), float("nan"), float("nan")
    pick = lambda q: values[min(len(values) - 1, int(q * len(values)))]
    return pick(0.50), pick(0.99), values[-1]


with lock:
    child_lat = [max(seen[(k, n)] for k in kinds) - seen[("llmservices", n)] for n in names
                 if all((k, n) in seen for k in kinds + ("llmservices",))]
    ready_lat = [ready[n] - seen[("llmservices", n)] for n in names if n in ready and ("llmservices", n) in seen]

# Steady state: wait until nothing has been written for a resync period, then measure 3 periods.
while True:
    before = metrics()["mixserve_operator_api_writes_total"]
    time.sleep(RESYNC + 1)
    if metrics()["mixserve_operator_api_writes_total"] == before or time.monotonic() > deadline + 120:
        break
m0, (_, _, cpu_s0), t0 = metrics(), proc_stats(), time.monotonic()
time.sleep(3 * RESYNC + 1)
m1, (rss_steady, hwm, cpu_s1), t1 = metrics(), proc_stats(), time.monotonic()
reconciles = total(m1, "mixserve_operator_reconcile_total{") - total(m0, "mixserve_operator_reconcile_total{")
requests = total(m1, "mixserve_operator_api_requests_total{", ('verb="WATCH"',)) - \
    total(m0, "mixserve_operator_api_requests_total{", ('verb="WATCH"',))
writes = m1["mixserve_operator_api_writes_total"] - m0["mixserve_operator_api_writes_total"]
resyncs = reconciles / N if N else 0

c50, c99, cmax = percentiles(child_lat)
r50, r99, rmax = percentiles(ready_lat)
rows = [
    ("LLMServices created (one kubectl apply)", f"{N} in {apply_s:.2f} s"),
    ("all children exist after", f"{t_children:.2f} s"),
    ("creation -> children exist, p50 / p99 / max", f"{c50:.3f} / {c99:.3f} / {cmax:.3f} s  (n={len(child_lat)})"),
    ("creation -> Ready, p50 / p99 / max", f"{r50:.3f} / {r99:.3f} / {rmax:.3f} s  (n={len(ready_lat)}, all after {t_ready:.1f} s)"),
    ("operator RSS: before / peak / steady", f"{rss0:.1f} / {hwm:.1f} / {rss_steady:.1f} MB"),
    ("operator CPU: burst (until children exist)", f"{cpu_children - cpu0:.2f} s"),
    ("operator CPU: steady, per resync of all", f"{(cpu_s1 - cpu_s0) / max(resyncs, 1e-9):.3f} s ({(cpu_s1 - cpu_s0) / (t1 - t0) * 100:.1f}% of a core)"),
    ("steady state: reconciles in 3 resync periods", f"{reconciles:.0f} ({resyncs:.1f} per LLMService)"),
    ("steady state: API requests per reconcile", f"{requests / max(reconciles, 1):.3f} (watches excluded)"),
    ("steady state: API writes per resync", f"{writes / max(resyncs, 1e-9):.3f} (total {writes:.0f})"),
]
width = max(len(r[0]) for r in rows)
print(f"mixserve-operator, {N} LLMServices, concurrency {os.environ['BENCH_CONCURRENCY']}, resync {RESYNC}s")
for k, v in rows:
    print(f"  {k:<{width}}  {v}")
PY
