"""mixserve-operator against a real control plane (hack/cluster.sh): one cluster and one operator
for the module.

What users rely on: every sample turns into the children mixserve-render shows, pods on the kwok
GPU nodes make the LLMService Ready with its URL, an unschedulable spec says why in Degraded,
hand edits and deletions of children are reverted, spec changes roll out, deleting the LLMService
leaves nothing behind, a missing Secret is reported with what to create, and a converged resync
writes nothing.
"""
import json
import subprocess
import time

import pytest
import yaml

from test_operator_support import (RESYNC_SECONDS, SAMPLES, Operator, apply, children_match_render, condition,
                                   events_for, get_json, install_crd, live_child, llmservice, owned_children,
                                   render, sample_secrets, wait_until)


@pytest.fixture(scope="module")
def operator(cluster, build_dir):
    install_crd(cluster)
    op = Operator(build_dir, cluster)
    wait_until("operator ready (informers synced)", op.ready, timeout=30)
    yield op
    assert op.stop() == 0, "SIGTERM must stop the operator cleanly"


def ready_llmsvc(cluster, name):
    obj = get_json(cluster, "llmsvc", name)
    c = condition(obj, "Ready")
    return obj if c and c["status"] == "True" else None


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.stem for s in SAMPLES])
def test_sample_children_match_render(cluster, operator, build_dir, sample):
    sample_secrets(cluster)
    cluster.kubectl("apply", "-f", str(sample))
    name = yaml.safe_load(sample.read_text())["metadata"]["name"]
    wait_until(f"{name}: children as mixserve-render shows them", lambda: children_match_render(cluster, build_dir, name))
    obj = wait_until(f"{name}: status observed", lambda: (lambda o: o if o.get("status", {}).get(
        "observedGeneration") == o["metadata"]["generation"] else None)(get_json(cluster, "llmsvc", name)))
    assert [c["type"] for c in obj["status"]["conditions"]] == ["Ready", "Progressing", "Degraded"]
    selector = obj["status"]["selector"].split(",")
    assert "app.kubernetes.io/name=mixserve" in selector and f"mixserve.io/llmservice={name}" in selector
    assert obj["status"]["servedNames"]
    # Every child is controlled by the LLMService, so the garbage collector can take them.
    for child in render(build_dir, obj):
        refs = live_child(cluster, child)["metadata"]["ownerReferences"]
        assert [(r["kind"], r["uid"], r["controller"]) for r in refs] == [("LLMService", obj["metadata"]["uid"], True)]


def test_printer_columns_show_ready_and_url(cluster, operator):
    apply(cluster, llmservice("columns", replicas=2))
    wait_until("columns Ready", lambda: ready_llmsvc(cluster, "columns"))
    row = cluster.kubectl("get", "llmsvc", "columns", "--no-headers").stdout.split()
    assert row[:5] == ["columns", "hf://mistralai/Mistral-7B-Instruct-v0.3", "2", "2/2", "http://columns.default.svc/v1"]


def test_pods_ready_make_the_service_ready_with_the_ingress_url(cluster, operator):
    apply(cluster, llmservice("web", replicas=2, ingress={"enabled": True, "host": "llm.example.test", "path": "/team/"}))
    obj = wait_until("web Ready", lambda: ready_llmsvc(cluster, "web"))
    assert obj["status"]["url"] == "http://llm.example.test/team/v1"
    assert obj["status"]["readyReplicas"] == 2 and obj["status"]["readyText"] == "2/2"
    assert condition(obj, "Degraded")["status"] == "False"
    assert condition(obj, "Progressing")["reason"] == "Complete"
    assert "serving at http://llm.example.test/team/v1" in condition(obj, "Ready")["message"]
    assert any(e["reason"] == "Ready" for e in events_for(cluster, "web"))
    pods = get_json(cluster, "pods", "-l", "mixserve.io/llmservice=web")["items"]
    assert len(pods) == 2 and all(p["spec"]["nodeName"].startswith("kwok-gpu-") for p in pods)


def test_more_gpus_than_any_node_is_degraded_with_the_schedulers_message(cluster, operator):
    # Passes the CEL rules (16 × 1 = 16) but the kwok nodes have 8 GPUs each.
    apply(cluster, llmservice("toobig", runtime={"tensorParallel": 16}, resources={"gpusPerNode": 16}))

    def unschedulable():
        c = condition(get_json(cluster, "llmsvc", "toobig"), "Degraded")
        return c if c and c["status"] == "True" and c["reason"] == "Unschedulable" else None
    c = wait_until("toobig Degraded/Unschedulable", unschedulable, timeout=30)
    assert "Insufficient nvidia.com/gpu" in c["message"]  # the scheduler's own words
    assert "no node has more than 8 nvidia.com/gpu" in c["message"]
    obj = get_json(cluster, "llmsvc", "toobig")
    assert condition(obj, "Ready")["status"] == "False"
    reasons = {e["reason"] for e in events_for(cluster, "toobig") if e["type"] == "Warning"}
    assert "Unschedulable" in reasons or "InsufficientGPUs" in reasons


def test_deleted_deployment_is_restored(cluster, operator):
    apply(cluster, llmservice("drift"))
    wait_until("drift Ready", lambda: ready_llmsvc(cluster, "drift"))
    old_uid = get_json(cluster, "deployment", "drift")["metadata"]["uid"]
    cluster.kubectl("delete", "deployment", "drift", "--wait=false")
    wait_until("deployment recreated", lambda: (get_json(cluster, "deployment", "drift") or {}).get(
        "metadata", {}).get("uid") not in (None, old_uid), timeout=5)


def test_hand_edits_are_reverted(cluster, operator, build_dir):
    wait_until("drift Ready", lambda: ready_llmsvc(cluster, "drift"))
    cluster.kubectl("patch", "deployment", "drift", "--type=json", "-p", json.dumps(
        [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "evil:1"},
         {"op": "replace", "path": "/spec/replicas", "value": 3}]))
    wait_until("deployment edit reverted", lambda: children_match_render(cluster, build_dir, "drift"), timeout=5)
    cluster.kubectl("patch", "service", "drift", "--type=merge", "-p", json.dumps(
        {"spec": {"selector": {"app.kubernetes.io/name": "other"}}}))
    wait_until("service edit reverted", lambda: get_json(cluster, "service", "drift")["spec"]["selector"][
        "app.kubernetes.io/name"] == "mixserve", timeout=5)
    cluster.kubectl("patch", "service", "drift", "--type=merge", "-p", json.dumps(
        {"spec": {"ports": [{"name": "http", "port": 81, "targetPort": "http"}]}}))
    wait_until("service port reverted", lambda: [p["port"] for p in (get_json(cluster, "service", "drift") or {}).get(
        "spec", {}).get("ports", [])] == [80], timeout=5)


def test_spec_change_rolls_the_deployment(cluster, operator):
    wait_until("drift Ready", lambda: ready_llmsvc(cluster, "drift"))
    before = get_json(cluster, "deployment", "drift")
    cluster.kubectl("patch", "llmsvc", "drift", "--type=merge", "-p", json.dumps(
        {"spec": {"runtime": {"image": "mixserve:v2", "maxModelLen": 4096}}}))

    def rolled():
        dep = get_json(cluster, "deployment", "drift")
        container = dep["spec"]["template"]["spec"]["containers"][0]
        return dep if container["image"] == "mixserve:v2" and "4096" in " ".join(container["args"]) else None
    dep = wait_until("new pod template", rolled, timeout=10)
    assert dep["metadata"]["generation"] > before["metadata"]["generation"]
    obj = wait_until("drift Ready on the new generation", lambda: (lambda o: o if o and o["status"].get(
        "observedGeneration") == o["metadata"]["generation"] and condition(o, "Ready")["status"] == "True" and
        condition(o, "Progressing")["reason"] == "Complete" else None)(get_json(cluster, "llmsvc", "drift")))
    pods = get_json(cluster, "pods", "-l", "mixserve.io/llmservice=drift")["items"]
    assert {p["spec"]["containers"][0]["image"] for p in pods if "deletionTimestamp" not in p["metadata"]} == {"mixserve:v2"}
    assert obj["status"]["readyText"] == "1/1"


def test_disabling_the_ingress_deletes_it(cluster, operator):
    wait_until("web Ready", lambda: ready_llmsvc(cluster, "web"))
    assert "Ingress/web" in owned_children(cluster, "web")
    cluster.kubectl("patch", "llmsvc", "web", "--type=merge", "-p", '{"spec":{"ingress":{"enabled":false}}}')
    wait_until("ingress deleted", lambda: "Ingress/web" not in owned_children(cluster, "web"), timeout=10)
    obj = wait_until("url falls back to the Service", lambda: (lambda o: o if o["status"].get("url") ==
                     "http://web.default.svc/v1" else None)(get_json(cluster, "llmsvc", "web")), timeout=10)
    assert condition(obj, "Ready")["status"] == "True"


def test_missing_secret_is_degraded_with_what_to_create(cluster, operator):
    apply(cluster, llmservice("keyed", auth={"apiKeySecretRef": {"name": "keyed-keys"}}))

    def missing():
        c = condition(get_json(cluster, "llmsvc", "keyed"), "Degraded")
        return c if c and c["reason"] == "MissingSecret" else None
    c = wait_until("keyed Degraded/MissingSecret", missing, timeout=10)
    assert c["status"] == "True"
    assert "kubectl create secret generic keyed-keys -n default --from-literal=api-key=<value>" in c["message"]
    assert owned_children(cluster, "keyed") == []
    warnings = [e for e in events_for(cluster, "keyed") if e["type"] == "Warning" and e["reason"] == "MissingSecret"]
    assert warnings and "keyed-keys" in warnings[0]["message"]
    cluster.kubectl("create", "secret", "generic", "keyed-keys", "--from-literal=api-key=s3cret")
    wait_until("keyed Ready once the Secret exists", lambda: ready_llmsvc(cluster, "keyed"), timeout=30)


def test_resync_of_converged_services_writes_nothing(cluster, operator):
    for name in ("columns", "web", "drift", "keyed"):
        wait_until(f"{name} Ready", lambda: ready_llmsvc(cluster, name))
    # Quiet: no write for one resync period, and the queue drained.
    wait_until("no writes for a resync period", lambda: _quiet(operator), timeout=60, interval=0)
    writes, reconciles = operator.writes(), operator.reconciles()
    time.sleep(2 * RESYNC_SECONDS + 1)
    assert operator.reconciles() - reconciles >= 2 * len(get_json(cluster, "llmsvc")["items"]), "no resync happened"
    assert operator.writes() == writes, "a resync of converged LLMServices wrote to the API server"


def _quiet(operator):
    before = operator.writes()
    time.sleep(RESYNC_SECONDS + 0.5)
    return operator.writes() == before and operator.metric("mixserve_operator_workqueue_depth") == 0


def test_deleting_the_llmservice_leaves_no_children(cluster, operator):
    assert owned_children(cluster, "drift")
    cluster.kubectl("delete", "llmsvc", "drift")
    wait_until("children collected", lambda: owned_children(cluster, "drift") == [], timeout=60)
    wait_until("pods gone", lambda: not [p for p in get_json(cluster, "pods", "-l", "mixserve.io/llmservice=drift")[
        "items"] if "deletionTimestamp" not in p["metadata"]], timeout=60)


def test_metrics_and_probes(cluster, operator):
    m = operator.metrics()
    assert m['mixserve_operator_reconcile_total{result="success"}'] > 0
    assert "mixserve_operator_reconcile_errors_total" in m
    assert m['mixserve_operator_reconcile_duration_seconds_bucket{result="success",le="+Inf"}'] == \
        m['mixserve_operator_reconcile_total{result="success"}']
    assert "mixserve_operator_workqueue_depth" in m and "mixserve_operator_workqueue_latency_seconds_count" in m
    assert m['mixserve_operator_api_requests_total{verb="PATCH",code="200"}'] > 0  # server-side applies
    assert m['mixserve_operator_api_requests_total{verb="GET",code="200"}'] > 0   # lists
    assert m["mixserve_operator_leader"] == 1  # no --leader-elect: always reconciling
    assert operator.ready()


@pytest.mark.parametrize("flags,message", [
    (["--concurrency", "0"], "--concurrency must be 1..256"),
    (["--resync-period", "soon"], "--resync-period must be a duration"),
    (["--bogus"], "unknown flag"),
    (["--leader-lease-duration", "5s", "--leader-renew-deadline", "10s"], "--leader-renew-deadline must be shorter"),
])
def test_bad_flags_are_one_line_errors(build_dir, flags, message):
    out = subprocess.run([str(build_dir / "mixserve-operator"), *flags], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert message in out.stderr and out.stderr.count("\n") == 1, out.stderr
