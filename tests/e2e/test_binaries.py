"""The built binaries against a real control plane: mixserve-operator reaches the API server over
TLS with the kubeconfig it is given, and reports a bad kubeconfig in one line."""
import subprocess

from conftest import CACHE


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=60, **kw)


def test_runtime_version(build_dir):
    out = run([str(build_dir / "mixserve"), "version"])
    assert out.returncode == 0
    assert out.stdout.startswith("mixserve ")
    if (CACHE / "cuda-13.0" / ".stamp").exists():
        assert "cuda: compiled in (runtime 13.0" in out.stdout


def test_runtime_unknown_command_is_one_line_error(build_dir):
    out = run([str(build_dir / "mixserve"), "frobnicate"])
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "unknown command 'frobnicate'" in out.stderr


def test_operator_checks_api_server(build_dir, cluster):
    out = run([str(build_dir / "mixserve-operator"), "--kubeconfig", str(cluster.kubeconfig), "--check"])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("/readyz: 200 ok")


def test_operator_bad_kubeconfig(build_dir, tmp_path):
    bad = tmp_path / "kubeconfig"
    bad.write_text("current-context: nowhere\ncontexts: []\n")
    out = run([str(build_dir / "mixserve-operator"), "--kubeconfig", str(bad), "--check"])
    assert out.returncode == 1
    assert out.stderr.strip() == f"mixserve-operator: kubeconfig {bad}: context 'nowhere' not found"
