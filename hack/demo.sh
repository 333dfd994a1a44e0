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
$keep || trap 'hack/cluster.sh down --dir "$dir"' EXIT

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
echo "== the LLMService API: CRD and a sample (the reconcile loop lands with the operator issue)"
kubectl apply -f crds/mixserve.io_llmservices.yaml > /dev/null
kubectl wait --for condition=established crd/llmservices.mixserve.io --timeout=30s > /dev/null
kubectl apply -f crds/samples/mixtral-8x7b-2xh100.yaml
kubectl get llmsvc
if $keep; then echo; echo "cluster left running: export KUBECONFIG=$dir/kubeconfig   (hack/cluster.sh down to stop)"; fi
