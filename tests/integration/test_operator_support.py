"""Helpers for the operator's integration tests (no tests here): run mixserve-operator against a
hack/cluster.sh control plane, read its /metrics, compare live children with mixserve-render.

The test modules import this one by name (tests/integration is on sys.path under pytest's default
rootdir-relative import mode, as conftest is for test_crd.py).
"""
import json
import os
import pathlib
import signal
import socket
import subprocess
import time
import urllib.request

import pytest
import yaml

from conftest import ROOT

CRD = ROOT / "crds" / "mixserve.io_llmservices.yaml"
SAMPLES = sorted((ROOT / "crds" / "samples").glob("*.yaml"))
RUNTIME_IMAGE = "mixserve:integration"
RESYNC_SECONDS = 3
HASH_ANNOTATION = "mixserve.io/rendered-hash"
CHILD_KINDS = "deployments,statefulsets,services,ingresses,poddisruptionbudgets"


def wait_until(what, predicate, timeout=60, interval=0.25):
    """Polls predicate until it returns something truthy; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not reached in {timeout}s")
        time.sleep(interval)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(cluster, *args):
    out = cluster.kubectl("get", *args, "-o", "json", check=False)
    return json.loads(out.stdout) if out.returncode == 0 else None


def install_crd(cluster):
    cluster.kubectl("apply", "-f", str(CRD))
    cluster.kubectl("wait", "--for=condition=Established", "crd/llmservices.mixserve.io", "--timeout=60s")
    wait_until("llmsvc in discovery", lambda: cluster.kubectl("get", "llmsvc", check=False).returncode == 0)


def apply(cluster, obj):
    cluster.kubectl("apply", "-f", "-", input=json.dumps(obj))


def llmservice(name, **spec):
    """A small LLMService that schedules on hack/cluster.sh's kwok nodes (8 GPUs each, no PVCs)."""
    base = {"model": {"uri": "hf://mistralai/Mistral-7B-Instruct-v0.3"}, "runtime": {"tensorParallel": 2}}
    base.update(spec)
    return {"apiVersion": "mixserve.io/v1alpha1", "kind": "LLMService",
            "metadata": {"name": name, "namespace": "default"}, "spec": base}


def condition(obj, kind):
    for c in (obj or {}).get("status", {}).get("conditions", []):
        if c["type"] == kind:
            return c
    return None


def contains_fields(live, want):
    """The operator's rule (apply_plan.h): every field `want` sets is in `live`; zero values may be absent."""
    if isinstance(want, dict):
        if not isinstance(live, dict):
            return False
        for key, value in want.items():
            if key not in live:
                if value in (False, 0, "", {}, [], None):
                    continue
                return False
            if not contains_fields(live[key], value):
                return False
        return True
    if isinstance(want, list):
        return isinstance(live, list) and len(live) == len(want) and all(
            contains_fields(a, b) for a, b in zip(live, want))
    if isinstance(want, int) and not isinstance(want, bool) and isinstance(live, str):
        return live == str(want)
    return live == want


class Operator:
    """One mixserve-operator process with its metrics and health endpoints on loopback ports."""

    def __init__(self, build_dir, cluster, name="operator", extra=()):
        binary = pathlib.Path(build_dir) / "mixserve-operator"
        assert binary.exists(), f"{binary} is missing: build the mixserve-operator target"
        self.metrics_port, self.health_port = free_port(), free_port()
        self.log_path = cluster.dir / f"{name}.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [str(binary), "--kubeconfig", str(cluster.kubeconfig), "--runtime-image", RUNTIME_IMAGE,
             "--metrics-bind-address", f"127.0.0.1:{self.metrics_port}",
             "--health-probe-bind-address", f"127.0.0.1:{self.health_port}",
             "--resync-period", f"{RESYNC_SECONDS}s", *extra],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(f"{name} /healthz", self.healthy, timeout=30)

    def _get(self, port, path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except OSError:
            return None, ""

    def healthy(self):
        assert self.proc.poll() is None, f"operator exited with {self.proc.returncode}: {self.log_path.read_text()[-2000:]}"
        return self._get(self.health_port, "/healthz")[0] == 200

    def ready(self):
        return self._get(self.health_port, "/readyz")[0] == 200

    def metrics(self):
        """{'name{labels}': value} from /metrics."""
        code, text = self._get(self.metrics_port, "/metrics")
        assert code == 200, f"/metrics answered {code}"
        samples = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, value = line.rsplit(" ", 1)
                samples[key] = float(value)
        return samples

    def metric(self, key):
        return self.metrics().get(key, 0.0)

    def writes(self):
        return self.metric("mixserve_operator_api_writes_total")

    def reconciles(self):
        m = self.metrics()
        return sum(v for k, v in m.items() if k.startswith("mixserve_operator_reconcile_total{"))

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def render(build_dir, server_obj):
    out = subprocess.run([str(pathlib.Path(build_dir) / "mixserve-render"), "--runtime-image", RUNTIME_IMAGE],
                         input=json.dumps(server_obj), capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["items"]


def live_child(cluster, child):
    return get_json(cluster, child["kind"].lower(), child["metadata"]["name"], "-n", child["metadata"]["namespace"])


def children_match_render(cluster, build_dir, name):
    """True when every child mixserve-render returns for the LLMService exists with its fields."""
    server_obj = get_json(cluster, "llmsvc", name)
    if server_obj is None:
        return False
    for child in render(build_dir, server_obj):
        live = live_child(cluster, child)
        if live is None or not contains_fields(live, child):
            return False
        if HASH_ANNOTATION not in live["metadata"].get("annotations", {}):
            return False
    return True


def sample_secrets(cluster):
    """Creates the Secrets the samples reference (each sample's header tells users to)."""
    for path in SAMPLES:
        spec = yaml.safe_load(path.read_text())["spec"]
        refs = [(spec.get("model", {}).get("tokenSecretRef"), "token"),
                (spec.get("auth", {}).get("apiKeySecretRef"), "api-key")]
        for ref, default_key in refs:
            if ref and get_json(cluster, "secret", ref["name"]) is None:
                cluster.kubectl("create", "secret", "generic", ref["name"],
                                f"--from-literal={ref.get('key', default_key)}=integration")


def owned_children(cluster, name):
    items = get_json(cluster, CHILD_KINDS, "-l", f"mixserve.io/llmservice={name}")["items"]
    return sorted(f"{c['kind']}/{c['metadata']['name']}" for c in items)


def events_for(cluster, name):
    return get_json(cluster, "events", "--field-selector", f"involvedObject.name={name},involvedObject.kind=LLMService")["items"]


def os_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
