"""Shared pytest fixtures: the local control plane (hack/cluster.sh) and built binaries.

Tests under tests/<label>/ get the marker <label> automatically, so `pytest -m integration` and
`hack/test.sh integration` select the same tests as CTest's label of that name.
"""
import os
import pathlib
import subprocess
import tempfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
CACHE = pathlib.Path(os.environ.get("MIXSERVE_CACHE", pathlib.Path.home() / ".cache" / "mixserve"))
LABELS = ("unit", "integration", "e2e", "gpu")


def pytest_configure(config):
    for label in LABELS:
        config.addinivalue_line("markers", f"{label}: tests of the {label} label")


def pytest_collection_modifyitems(config, items):
    for item in items:
        parts = pathlib.Path(str(item.fspath)).relative_to(ROOT).parts
        if len(parts) > 2 and parts[0] == "tests" and parts[1] in LABELS:
            item.add_marker(getattr(pytest.mark, parts[1]))


class LocalCluster:
    """A running hack/cluster.sh control plane in its own directory."""

    def __init__(self, directory: pathlib.Path):
        self.dir = directory
        self.kubeconfig = directory / "kubeconfig"

    def kubectl(self, *args, check=True, input=None):
        return subprocess.run(
            [str(CACHE / "bin" / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True, text=True, check=check, input=input, timeout=120)

    def pids(self):
        return [int(p.read_text()) for p in (self.dir / "pids").glob("*.pid")]


def start_cluster():
    directory = pathlib.Path(tempfile.mkdtemp(prefix="mixserve-pytest-cluster-"))
    up = subprocess.run([str(ROOT / "hack" / "cluster.sh"), "up", "--dir", str(directory)],
                        capture_output=True, text=True, timeout=300)
    cluster = LocalCluster(directory)
    if up.returncode != 0:
        stop_cluster(cluster)
        raise RuntimeError(f"hack/cluster.sh up failed:\n{up.stdout}\n{up.stderr}")
    assert up.stdout.strip() == f"export KUBECONFIG={cluster.kubeconfig}"
    return cluster


def stop_cluster(cluster):
    subprocess.run([str(ROOT / "hack" / "cluster.sh"), "down", "--dir", str(cluster.dir)],
                   capture_output=True, text=True, timeout=120, check=True)


@pytest.fixture(scope="module")
def cluster():
    c = start_cluster()
    try:
        yield c
    finally:
        stop_cluster(c)


BUILD_DIR = pathlib.Path(os.environ.get("MIXSERVE_BUILD_DIR", ROOT / "build"))


@pytest.fixture(scope="session")
def build_dir():
    """Where the binaries under test are (MIXSERVE_BUILD_DIR, default build/)."""
    return BUILD_DIR
