"""The local control plane fixture, driven from pytest: start, use (RBAC, GPU scheduling), stop."""
import json
import os
import pathlib
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import ROOT, LocalCluster, start_cluster, stop_cluster

GPU_DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "gpu-smoke", "namespace": "default"},
    "spec": {
        "replicas": 1,
        "selector": {"matchLabels": {"app": "gpu-smoke"}},
        "template": {
            "metadata": {"labels": {"app": "gpu-smoke"}},
            "spec": {"containers": [{
                "name": "main", "image": "mixserve:test",
                "resources": {"limits": {"nvidia.com/gpu": "1"}}}]},
        },
    },
}


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def wait_for_pod(cluster, selector, predicate, timeout=60):
    deadline = time.monotonic() + timeout
    pods = []
    while time.monotonic() < deadline:
        pods = json.loads(cluster.kubectl("get", "pods", "-l", selector, "-o", "json").stdout)["items"]
        if pods and predicate(pods[0]):
            return pods[0]
        time.sleep(0.5)
    pytest.fail(f"no pod matching {selector} reached the wanted state in {timeout}s: {pods}")


def test_start_use_stop():
    cluster = start_cluster()
    try:
        pids = cluster.pids()
        assert len(pids) == 5 and all(alive(p) for p in pids)
        assert cluster.kubectl("get", "--raw", "/readyz").stdout == "ok"

        # RBAC: the default service account may not list pods; the admin may.
        sa = cluster.kubectl("auth", "can-i", "list", "pods",
                             "--as=system:serviceaccount:default:default", check=False)
        assert sa.stdout.strip() == "no" and sa.returncode != 0
        assert cluster.kubectl("auth", "can-i", "list", "pods").stdout.strip() == "yes"

        nodes = json.loads(cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
        assert sorted(n["metadata"]["name"] for n in nodes) == ["kwok-gpu-0", "kwok-gpu-1"]
        assert all(n["status"]["allocatable"]["nvidia.com/gpu"] == "8" for n in nodes)

        cluster.kubectl("apply", "-f", "-", input=json.dumps(GPU_DEPLOYMENT))
        pod = wait_for_pod(cluster, "app=gpu-smoke", lambda p: p["status"].get("phase") == "Running")
        assert pod["spec"]["nodeName"].startswith("kwok-gpu-")

        # A Service selecting the pod gets it as an endpoint (the fake pod IP is usable in objects).
        cluster.kubectl("expose", "deployment", "gpu-smoke", "--port", "80")
        deadline = time.monotonic() + 30
        addresses = []
        while time.monotonic() < deadline and not addresses:
            slices = json.loads(cluster.kubectl("get", "endpointslices", "-l", "kubernetes.io/service-name=gpu-smoke",
                                                "-o", "json").stdout)["items"]
            addresses = [a for s in slices for e in (s.get("endpoints") or []) for a in e["addresses"]]
            time.sleep(0.5)
        assert addresses == [pod["status"]["podIP"]]
    finally:
        stop_cluster(cluster)
    assert not cluster.dir.exists()
    assert not any(alive(p) for p in pids)


def test_two_clusters_coexist_and_unschedulable_gpu_request():
    a = start_cluster()
    try:
        b = start_cluster()
        try:
            assert a.kubeconfig.read_text() != b.kubeconfig.read_text()  # distinct ports and CAs
            assert b.kubectl("get", "--raw", "/readyz").stdout == "ok"
            # 9 GPUs fit on no node advertising 8: the scheduler says so.
            big = json.loads(json.dumps(GPU_DEPLOYMENT))
            big["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] = "9"
            b.kubectl("apply", "-f", "-", input=json.dumps(big))
            pod = wait_for_pod(b, "app=gpu-smoke", lambda p: any(
                c.get("reason") == "Unschedulable" for c in p["status"].get("conditions", [])))
            message = next(c["message"] for c in pod["status"]["conditions"] if c.get("reason") == "Unschedulable")
            assert "nvidia.com/gpu" in message
        finally:
            stop_cluster(b)
        assert a.kubectl("get", "--raw", "/readyz").stdout == "ok"  # b's down left a alone
    finally:
        stop_cluster(a)


def test_a_port_taken_before_its_component_binds_it_starts_again_on_new_ports():
    # Six free ports for the first start, of which the controller manager's is then held by a listener
    # that never answers (as another process could take it between the choice and the bind).
    held = []
    for _ in range(6):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        held.append(s)
    ports = [s.getsockname()[1] for s in held]
    for s in held:
        s.close()
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", ports[3]))
    squatter.listen()
    directory = pathlib.Path(tempfile.mkdtemp(prefix="mixserve-pytest-cluster-"))
    cluster = LocalCluster(directory)
    try:
        env = dict(os.environ, MIXSERVE_CLUSTER_FIRST_PORTS=" ".join(map(str, ports)))
        up = subprocess.run([str(ROOT / "hack" / "cluster.sh"), "up", "--dir", str(directory)],
                            capture_output=True, text=True, timeout=300, env=env)
        assert up.returncode == 0, up.stderr
        assert "kube-controller-manager exited during start-up" in up.stderr
        assert "starting again on new ports" in up.stderr
        assert cluster.kubectl("get", "--raw", "/readyz").stdout == "ok"
        assert f"127.0.0.1:{ports[2]}" not in cluster.kubeconfig.read_text()  # the second start's ports
    finally:
        squatter.close()
        stop_cluster(cluster)
    assert not directory.exists()
