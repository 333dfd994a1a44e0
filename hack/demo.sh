#!/usr/bin/env bash
# The main job, end to end on this machine: set up, build, start a local control plane with fake GPU
# nodes, show the runtime and the operator talking to it, then stop (pass --keep to leave it running).
set -euo pipefail
LOG_TAG=demo
source "$(dirname "$0")/lib/common.sh"
cd "$MIXSERVE_ROOT"
keep=false
[ "${1:-}" = "--keep" ] && keep=true

hack/setup.sh
hack/build.sh
use_cached_tools
dir=$MIXSERVE_ROOT/.cluster
hack/cluster.sh down --dir "$dir" > /dev/null 2>&1 || true
eval "$(hack/cluster.sh up --dir "$dir")"
serve_pid="" operator_pid=""
cleanup() {
  for pid in $serve_pid $operator_pid; do kill "$pid" 2> /dev/null || true; done
  $keep || hack/cluster.sh down --dir "$dir"
}
trap cleanup EXIT

echo
echo "== runtime"
build/mixserve version
echo
echo "== a completion from the tiny random-weight Mixtral on the CPU reference backend"
build/mixserve generate --model tests/data/tiny-mixtral --prompt "Hello" --max-tokens 16 --temperature 0
echo
echo "== operator -> API server"
build/mixserve-operator --check
echo
echo "== cluster: $(kubectl version -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])')"
kubectl get nodes -o custom-columns='NODE:.metadata.name,GPUS:.status.allocatable.nvidia\.com/gpu,PRODUCT:.metadata.labels.nvidia\.com/gpu\.product,READY:.status.conditions[?(@.type=="Ready")].status'
echo
echo "== a pod asking for 2 GPUs lands on a fake GPU node"
kubectl create deployment demo-gpu --image=mixserve:demo > /dev/null
kubectl set resources deployment demo-gpu --limits=nvidia.com/gpu=2 > /dev/null
kubectl rollout status deployment demo-gpu --timeout=60s
kubectl get pods -o wide
echo
echo "== mixserve serve: the OpenAI API on the tiny model, asked by the official openai client"
build/mixserve serve --model tests/data/tiny-mixtral --served-model-name tiny-mixtral --port 0 \
  2> "$dir/serve.log" &
serve_pid=$!
port=""
for _ in $(seq 1 120); do
  port=$(sed -n 's|.*serving .* on http://[^:]*:\([0-9]*\).*|\1|p' "$dir/serve.log" | head -1)
  [ -n "$port" ] && break
  kill -0 "$serve_pid" 2> /dev/null || die "mixserve serve exited: $(tail -1 "$dir/serve.log")"
  sleep 0.5
done
[ -n "$port" ] || die "mixserve serve did not start (log: $dir/serve.log)"
.venv/bin/python - "$port" <<'PY'
import sys, openai
client = openai.OpenAI(base_url=f"http://127.0.0.1:{sys.argv[1]}/v1", api_key="unused")
print("models:", [m.id for m in client.models.list().data])
r = client.chat.completions.create(model="tiny-mixtral", messages=[{"role": "user", "content": "Hello"}],
                                   max_tokens=12, temperature=0)
print("chat:", repr(r.choices[0].message.content), "| finish:", r.choices[0].finish_reason, "| usage:", r.usage.total_tokens)
PY
kill -TERM "$serve_pid" && wait "$serve_pid" || true
echo
echo "== the operator turns an LLMService into pods on the fake GPU nodes, and says where it answers"
kubectl apply -f crds/mixserve.io_llmservices.yaml > /dev/null
kubectl wait --for condition=established crd/llmservices.mixserve.io --timeout=30s > /dev/null
build/mixserve-operator --kubeconfig "$KUBECONFIG" --runtime-image mixserve:demo \
  --metrics-bind-address 0 --health-probe-bind-address 0 2> "$dir/operator.log" &
operator_pid=$!
kubectl apply -f - <<'YAML'
apiVersion: mixserve.io/v1alpha1
kind: LLMService
metadata: {name: mixtral-demo}
spec:
  model: {uri: "hf://mistralai/Mixtral-8x7B-Instruct-v0.1", servedNames: [mixtral-8x7b]}
  runtime: {tensorParallel: 2}
  replicas: 2
  ingress: {enabled: true, host: llm.example.test}
YAML
kubectl wait llmsvc/mixtral-demo --for=condition=Ready --timeout=120s > /dev/null \
  || die "LLMService not Ready (operator log: $dir/operator.log)"
kubectl get llmsvc
kubectl get deployment,service,ingress,pdb,pods -l mixserve.io/llmservice=mixtral-demo
kill -TERM "$operator_pid" && wait "$operator_pid" || true
if $keep; then echo; echo "cluster left running: export KUBECONFIG=$dir/kubeconfig   (hack/cluster.sh down to stop)"; fi
