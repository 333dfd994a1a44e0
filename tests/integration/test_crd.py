"""The LLMService CRD against a real API server (hack/cluster.sh).

Installs crds/mixserve.io_llmservices.yaml and checks what users see: every sample applies, `kubectl
get llmsvc` prints the Model/TP/Ready/URL columns, `kubectl explain` shows the descriptions, the scale
subresource drives spec.replicas, and the CEL rules reject each spec of tests/unit/api/invalid_specs.yaml
with its message (the C++ Validate() is checked against the same table in tests/unit/api). Then the
operator side: the C++ defaults equal the API server's, and what mixserve-render produces for each
sample is accepted by the API server, applies idempotently with server-side apply, schedules on the
fake GPU nodes and is garbage-collected with its LLMService.
"""
import copy
import json
import pathlib
import subprocess
import time

import pytest
import yaml

from conftest import ROOT

CRD = ROOT / "crds" / "mixserve.io_llmservices.yaml"
SAMPLES = sorted((ROOT / "crds" / "samples").glob("*.yaml"))
TABLE = yaml.safe_load((ROOT / "tests" / "unit" / "api" / "invalid_specs.yaml").read_text())
FIELD_MANAGER = "mixserve-operator"


def merge_patch(target, patch):
    """RFC 7396 JSON merge patch, as nlohmann::json::merge_patch applies it in the C++ test."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def wait_until(what, predicate, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not reached in {timeout}s")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def crd_cluster(cluster):
    cluster.kubectl("apply", "-f", str(CRD))
    cluster.kubectl("wait", "--for=condition=Established", "crd/llmservices.mixserve.io", "--timeout=60s")
    wait_until("llmsvc in discovery", lambda: cluster.kubectl("get", "llmsvc", check=False).returncode == 0)
    for sample in SAMPLES:
        cluster.kubectl("apply", "-f", str(sample))
    return cluster


@pytest.fixture(scope="module")
def render(build_dir):
    binary = build_dir / "mixserve-render"
    assert binary.exists(), f"{binary} is missing: build the mixserve-render target"

    def run(manifest, *flags):
        out = subprocess.run([str(binary), *flags], input=manifest, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)
    return run


def sample_name(path):
    return yaml.safe_load(path.read_text())["metadata"]["name"]


def get_json(cluster, *args):
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def test_crd_is_structural_and_established(crd_cluster):
    crd = get_json(crd_cluster, "crd", "llmservices.mixserve.io")
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions["Established"] == "True" and conditions["NamesAccepted"] == "True"
    assert "NonStructuralSchema" not in conditions
    assert crd["spec"]["names"]["shortNames"] == ["llmsvc"]


def test_every_field_has_a_description():
    schema = yaml.safe_load(CRD.read_text())["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    missing = []

    def walk(node, path):
        # The API server allows nothing but `type: object` on metadata (it documents it itself).
        if path != "metadata" and not node.get("description", "").strip():
            missing.append(path or "<root>")
        for name, child in node.get("properties", {}).items():
            walk(child, f"{path}.{name}" if path else name)
        if "items" in node:
            walk(node["items"], path + "[]")

    walk(schema, "")
    assert missing == []


def test_samples_show_in_printer_columns(crd_cluster):
    lines = crd_cluster.kubectl("get", "llmsvc").stdout.splitlines()
    assert lines[0].split() == ["NAME", "MODEL", "TP", "READY", "URL", "AGE"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == {sample_name(s) for s in SAMPLES}
    assert rows["mixtral-8x7b"][1:3] == ["hf://mistralai/Mixtral-8x7B-Instruct-v0.1", "2"]
    assert rows["mixtral-8x22b"][1:3] == ["pvc://models/mistralai/Mixtral-8x22B-Instruct-v0.1", "16"]


def test_explain_shows_descriptions(crd_cluster):
    runtime = crd_cluster.kubectl("explain", "llmsvc.spec.runtime").stdout
    assert "How `mixserve serve` runs the model." in runtime
    for field in ("tensorParallel", "expertParallel", "nodes", "dtype", "maxModelLen", "args", "env", "image"):
        assert f"  {field}\t" in runtime, field
    assert "Number of GPUs (ranks) one replica is sharded over" in runtime
    uri = crd_cluster.kubectl("explain", "llmsvc.spec.model.uri").stdout
    assert "hf://<org>/<name>[@<revision>]" in uri
    gpus = crd_cluster.kubectl("explain", "llmsvc.spec.resources.gpusPerNode").stdout
    assert "gpusPerNode × nodes must equal tensorParallel" in gpus


def test_scale_subresource_and_status_columns(crd_cluster):
    crd_cluster.kubectl("scale", "llmsvc/mistral-7b", "--replicas=3")
    assert get_json(crd_cluster, "llmsvc", "mistral-7b")["spec"]["replicas"] == 3
    selector = "app.kubernetes.io/name=mixserve,mixserve.io/llmservice=mistral-7b"
    crd_cluster.kubectl("patch", "llmsvc", "mistral-7b", "--subresource=status", "--type=merge", "-p", json.dumps(
        {"status": {"replicas": 3, "readyReplicas": 1, "readyText": "1/3", "selector": selector,
                    "url": "http://mistral-7b.default.svc/v1"}}))
    scale = json.loads(crd_cluster.kubectl(
        "get", "--raw", "/apis/mixserve.io/v1alpha1/namespaces/default/llmservices/mistral-7b/scale").stdout)
    assert scale["spec"]["replicas"] == 3
    assert scale["status"] == {"replicas": 3, "selector": selector}
    row = crd_cluster.kubectl("get", "llmsvc", "mistral-7b", "--no-headers").stdout.split()
    assert row[3:5] == ["1/3", "http://mistral-7b.default.svc/v1"]
    crd_cluster.kubectl("scale", "llmsvc/mistral-7b", "--replicas=0")
    assert get_json(crd_cluster, "llmsvc", "mistral-7b")["spec"]["replicas"] == 0


def test_table_base_is_accepted(crd_cluster):
    base = merge_patch(TABLE["base"], {"metadata": {"name": "table-base"}})
    crd_cluster.kubectl("apply", "-f", "-", input=json.dumps(base))
    crd_cluster.kubectl("delete", "llmsvc", "table-base")


def test_table_has_enough_distinct_rules():
    assert len(TABLE["cases"]) >= 10
    assert len({c["message"] for c in TABLE["cases"]}) >= 10


@pytest.mark.parametrize("case", TABLE["cases"], ids=[c["name"] for c in TABLE["cases"]])
def test_invalid_spec_is_rejected_with_its_cel_message(crd_cluster, case):
    obj = merge_patch(TABLE["base"], case["patch"])
    obj["metadata"]["name"] = case["name"]
    out = crd_cluster.kubectl("apply", "-f", "-", input=json.dumps(obj), check=False)
    assert out.returncode != 0, f"accepted: {json.dumps(obj['spec'])}"
    assert f"{case['field']}: Invalid value" in out.stderr, out.stderr
    assert case["message"] in out.stderr, out.stderr
    assert crd_cluster.kubectl("get", "llmsvc", case["name"], check=False).returncode != 0


def test_cpp_defaults_equal_the_api_servers(crd_cluster, render):
    manifest = {"apiVersion": "mixserve.io/v1alpha1", "kind": "LLMService",
                "metadata": {"name": "defaults-probe", "namespace": "default"},
                "spec": {"model": {"uri": "hf://mistralai/Mistral-7B-Instruct-v0.3",
                                   "tokenSecretRef": {"name": "hf-token"}},
                         "auth": {"apiKeySecretRef": {"name": "keys"}}}}
    crd_cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    server_spec = get_json(crd_cluster, "llmsvc", "defaults-probe")["spec"]
    cpp_spec = render(json.dumps(manifest), "--spec")["spec"]
    # The server applied the CRD's static defaults; C++ adds the two derived ones on top.
    expected = merge_patch(server_spec, {"resources": {"gpusPerNode": 1},
                                         "model": {"servedNames": ["mistralai/Mistral-7B-Instruct-v0.3"]}})
    assert cpp_spec == expected
    assert server_spec["runtime"]["tensorParallel"] == 1 and server_spec["probes"]["startupTimeout"] == "30m"
    crd_cluster.kubectl("delete", "llmsvc", "defaults-probe")


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.stem for s in SAMPLES])
def test_rendered_children_pass_server_dry_run(crd_cluster, render, sample):
    server_obj = crd_cluster.kubectl("get", "llmsvc", sample_name(sample), "-o", "json").stdout
    children = render(server_obj)
    assert children == render(server_obj)  # deterministic across runs
    kinds = [f"{c['kind']}/{c['metadata']['name']}" for c in children["items"]]
    assert any(k.startswith(("Deployment/", "StatefulSet/")) for k in kinds)
    out = crd_cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=json.dumps(children), check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("(server dry run)") == len(kinds), out.stdout


def multi_node_on_kwok():
    """The 8x22B sample made schedulable on hack/cluster.sh's two 8-GPU kwok nodes (no claims there)."""
    obj = yaml.safe_load((ROOT / "crds" / "samples" / "mixtral-8x22b-multinode.yaml").read_text())
    return merge_patch(obj, {
        "metadata": {"name": "mixtral-8x22b-kwok"},
        "spec": {"model": {"uri": "hf://mistralai/Mixtral-8x22B-Instruct-v0.1", "cache": {"pvc": None, "emptyDir": {}}},
                 "resources": {"cpu": "8", "memory": "64Gi"},
                 "placement": {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                     {"topologyKey": "kubernetes.io/hostname",
                      "labelSelector": {"matchLabels": {"mixserve.io/llmservice": "mixtral-8x22b-kwok"}}}]}}}}})


def applied_state(cluster, children):
    """generation and our field manager's timestamp per child: both change on any real write."""
    state = {}
    for c in children["items"]:
        obj = get_json(cluster, c["kind"].lower(), c["metadata"]["name"], "--show-managed-fields")
        ours = [m for m in obj["metadata"]["managedFields"] if m["manager"] == FIELD_MANAGER]
        assert len(ours) == 1 and ours[0]["operation"] == "Apply"
        state[f"{c['kind']}/{c['metadata']['name']}"] = (obj["metadata"].get("generation"), ours[0]["time"])
    return state


def test_multi_node_children_apply_idempotently_schedule_and_are_collected(crd_cluster, render):
    crd_cluster.kubectl("apply", "-f", "-", input=json.dumps(multi_node_on_kwok()))
    server_obj = crd_cluster.kubectl("get", "llmsvc", "mixtral-8x22b-kwok", "-o", "json").stdout
    children = render(server_obj)
    apply = ("apply", "--server-side", f"--field-manager={FIELD_MANAGER}", "--force-conflicts", "-f", "-")
    crd_cluster.kubectl(*apply, input=json.dumps(children))
    first = applied_state(crd_cluster, children)
    time.sleep(1.5)  # managedFields times have one-second resolution
    crd_cluster.kubectl(*apply, input=json.dumps(render(server_obj)))
    assert applied_state(crd_cluster, children) == first, "a resync with the same spec wrote something"

    # One StatefulSet of two ranks, one per GPU node, each with all 8 of its GPUs.
    def running():
        pods = get_json(crd_cluster, "pods", "-l", "mixserve.io/llmservice=mixtral-8x22b-kwok")["items"]
        return pods if len(pods) == 2 and all(p["status"].get("phase") == "Running" for p in pods) else None
    pods = wait_until("both ranks running", running)
    assert sorted(p["spec"]["nodeName"] for p in pods) == ["kwok-gpu-0", "kwok-gpu-1"]
    assert sorted(p["metadata"]["labels"]["apps.kubernetes.io/pod-index"] for p in pods) == ["0", "1"]
    for pod in pods:
        container = pod["spec"]["containers"][0]
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "8"
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["MIXSERVE_LEADER_ADDR"] == "mixtral-8x22b-kwok-0-0.mixtral-8x22b-kwok-ranks.default.svc:29500"
        assert pod["spec"]["hostname"] == pod["metadata"]["name"]
        assert pod["spec"]["subdomain"] == "mixtral-8x22b-kwok-ranks"
    # The HTTP Service selects rank 0 only; the headless one every rank.
    for service, want in (("mixtral-8x22b-kwok", ["mixtral-8x22b-kwok-0-0"]),
                          ("mixtral-8x22b-kwok-ranks", ["mixtral-8x22b-kwok-0-0", "mixtral-8x22b-kwok-0-1"])):
        selector = get_json(crd_cluster, "service", service)["spec"]["selector"]
        selected = get_json(crd_cluster, "pods", "-l", ",".join(f"{k}={v}" for k, v in selector.items()))["items"]
        assert sorted(p["metadata"]["name"] for p in selected) == want

    # Owner references are right: deleting the LLMService lets the garbage collector take the rest.
    crd_cluster.kubectl("delete", "llmsvc", "mixtral-8x22b-kwok")
    wait_until("children collected", lambda: not get_json(
        crd_cluster, "statefulsets,services,poddisruptionbudgets,ingresses", "-l",
        "mixserve.io/llmservice=mixtral-8x22b-kwok")["items"])
