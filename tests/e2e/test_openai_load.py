"""A short run of hack/load-serve.py (20 streaming clients for 8 s, 20% hanging up mid-stream):
no errors for the others, the server idle with KV usage 0 afterwards, RSS back near its start, and
exit code 0 on SIGTERM. The full run (200 clients, 60 s) is a benchmark, not a test."""
import json
import subprocess
import sys

from serve_fixture import BUILD_DIR, MODEL, ROOT


def test_short_load_run(tmp_path):
    figures = tmp_path / "load.json"
    out = subprocess.run([sys.executable, str(ROOT / "hack" / "load-serve.py"), "--spawn", "--build-dir",
                          str(BUILD_DIR), "--model", str(MODEL), "--clients", "20", "--duration", "8", "--warmup",
                          "2", "--max-tokens", "4:32", "--json", str(figures)], capture_output=True, text=True, timeout=150)
    assert out.returncode == 0, out.stdout + out.stderr
    result = json.loads(figures.read_text())
    assert result["requests_served"] > 0 and result["errors"] == 0 and result["kv_usage_end"] == 0
    assert result["requests_disconnected"] > 0 and result["server_exit_code"] == 0
