"""mixserve-operator when the control plane misbehaves and with several replicas: its own cluster,
since these tests restart kube-apiserver and kill operators.

- kube-apiserver restarts mid-run: the operator reconnects its watches and converges on what changed
  while it was away and after;
- two replicas with --leader-elect: exactly one reconciles; killing it (SIGKILL, no release) hands
  the Lease to the other, which then reconciles, within 20 s; the standby wrote nothing before (no accepted write).
"""
import signal
import subprocess

import pytest

from conftest import ROOT
from test_operator_support import (Operator, apply, condition, get_json, install_crd, llmservice, wait_until)


def ready(cluster, name):
    c = condition(get_json(cluster, "llmsvc", name), "Ready")
    return c is not None and c["status"] == "True"


@pytest.fixture(scope="module")
def crd_cluster(cluster):
    install_crd(cluster)
    return cluster


def test_apiserver_restart_reconverges(crd_cluster, build_dir):
    cluster = crd_cluster
    op = Operator(build_dir, cluster, name="restart")
    try:
        wait_until("operator ready", op.ready, timeout=30)
        apply(cluster, llmservice("before"))
        wait_until("before Ready", lambda: ready(cluster, "before"))
        lists_before = sum(v for k, v in op.metrics().items() if k.startswith("mixserve_operator_informer_lists_total"))

        out = subprocess.run([str(ROOT / "hack" / "cluster.sh"), "restart-apiserver", "--dir", str(cluster.dir)],
                             capture_output=True, text=True, timeout=180)
        assert out.returncode == 0, out.stderr
        assert op.healthy(), "the operator must survive an API server restart"

        # Changes after the restart reach the operator only through re-established watches.
        cluster.kubectl("delete", "deployment", "before", "--wait=false")
        apply(cluster, llmservice("after"))
        wait_until("after Ready", lambda: ready(cluster, "after"), timeout=60)
        wait_until("before's Deployment restored", lambda: get_json(cluster, "deployment", "before") is not None, timeout=30)
        wait_until("before Ready again", lambda: ready(cluster, "before"), timeout=60)
        m = op.metrics()
        assert sum(v for k, v in m.items() if k.startswith("mixserve_operator_informer_lists_total")) >= lists_before
        assert any(k.startswith("mixserve_operator_api_requests_total{") and 'code="0"' not in k for k in m)
    finally:
        assert op.stop() == 0


def successful_writes(op):
    """Writes the API server accepted (a candidate's losing Lease create, answered 409, is no write)."""
    total = 0
    for key, value in op.metrics().items():
        if key.startswith("mixserve_operator_api_requests_total{"):
            verb, code = key.split('verb="')[1].split('"')[0], key.split('code="')[1].split('"')[0]
            if verb in ("POST", "PUT", "PATCH", "DELETE") and code.startswith("2"):
                total += value
    return total


def leader_of(ops):
    leaders = [op for op in ops if op.proc.poll() is None and op.metric("mixserve_operator_leader") == 1]
    return leaders


def test_two_replicas_one_leader_and_failover(crd_cluster, build_dir):
    cluster = crd_cluster
    flags = ("--leader-elect", "--leader-election-namespace", "default", "--leader-election-id", "mixserve-test",
             "--leader-lease-duration", "6s", "--leader-renew-deadline", "4s", "--leader-retry-period", "1s")
    a = Operator(build_dir, cluster, name="replica-a", extra=flags)
    b = Operator(build_dir, cluster, name="replica-b", extra=flags)
    try:
        leaders = wait_until("one leader", lambda: leader_of([a, b]), timeout=20)
        assert len(leaders) == 1
        leader = leaders[0]
        standby = b if leader is a else a
        lease = get_json(cluster, "lease", "mixserve-test")
        assert lease["spec"]["holderIdentity"]
        assert standby.ready(), "a standby replica is ready (to take over)"

        apply(cluster, llmservice("elected"))
        wait_until("elected Ready", lambda: ready(cluster, "elected"))
        assert successful_writes(standby) == 0, "the standby replica wrote to the API server"
        assert standby.reconciles() == 0
        holder = lease["spec"]["holderIdentity"]

        leader.stop(sig=signal.SIGKILL)
        wait_until("the standby leads", lambda: standby.metric("mixserve_operator_leader") == 1, timeout=20)
        assert get_json(cluster, "lease", "mixserve-test")["spec"]["holderIdentity"] != holder
        cluster.kubectl("delete", "deployment", "elected", "--wait=false")
        apply(cluster, llmservice("failover"))
        wait_until("the new leader reconciles", lambda: ready(cluster, "failover") and
                   get_json(cluster, "deployment", "elected") is not None, timeout=30)
    finally:
        rcs = [op.stop() for op in (a, b)]
    assert 0 in rcs, "the surviving replica stops cleanly on SIGTERM"
