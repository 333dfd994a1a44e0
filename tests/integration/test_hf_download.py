"""`mixserve download` against a Hugging Face Hub look-alike on 127.0.0.1.

The fake Hub serves a repo tree built in tmp_path the way huggingface.co does: the model-info API
(`?blobs=true` adds blob ids, sizes and LFS sha256s), `resolve/` URLs that answer plain files
directly and redirect LFS files to a separate storage server (another port, so the client must
not send its token there), ETag / X-Linked-Etag / X-Linked-Size / X-Repo-Commit headers and Range
requests. Faults are switched on per test: a transfer that drops midway, a blob with wrong bytes, a
server that ignores Range, a slow server, a listing without blob metadata.
"""
import hashlib
import http.server
import json
import os
import pathlib
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

REPO = "acme/tiny-moe"
PRIVATE = "acme/private-moe"
TOKEN = "hf_s3cr3t_t0k3n_for_tests"
SHARD1 = "model-00001-of-00002.safetensors"
SHARD2 = "model-00002-of-00002.safetensors"
PRESIGNED_CREDENTIAL = "AKIAEXAMPLE%2F20250101%2Fus-east-1%2Fs3%2Faws4_request"


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(data: bytes) -> bytes:
    sha = hashlib.sha256(data).hexdigest()
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {len(data)}\n".encode()


class HubTree:
    """Repos on disk: tmp/<org>/<name>/<commit>/<path>, with refs and the set of LFS paths."""

    def __init__(self, root: pathlib.Path):
        self.root = root
        self.repos = {}  # repo id -> {"refs": {name: commit}, "lfs": set, "private": bool}

    def add_commit(self, repo, commit, files, lfs, refs=(), private=False):
        entry = self.repos.setdefault(repo, {"refs": {}, "lfs": set(), "private": private})
        entry["lfs"] |= set(lfs)
        for path, data in files.items():
            target = self.root / repo / commit / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        for ref in refs:
            entry["refs"][ref] = commit

    def commit_of(self, repo, revision):
        entry = self.repos[repo]
        if revision in entry["refs"]:
            return entry["refs"][revision]
        return revision if (self.root / repo / revision).is_dir() else None

    def files(self, repo, commit):
        base = self.root / repo / commit
        return {p.relative_to(base).as_posix(): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}


def make_tensors(seed, count, floats):
    rng = np.random.default_rng(seed)
    return {f"layers.{seed}.{i}.weight": rng.standard_normal(floats, dtype=np.float32) for i in range(count)}


def safetensors_bytes(tensors, path):
    save_file(tensors, str(path))
    return path.read_bytes()


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub-tree")
    scratch = tmp_path_factory.mktemp("scratch")
    shard1 = make_tensors(1, 3, 250_000)  # 3 MB
    shard2 = make_tensors(2, 1, 250_000)  # 1 MB
    index = {"metadata": {"total_size": 4_000_000},
             "weight_map": {**{k: SHARD1 for k in shard1}, **{k: SHARD2 for k in shard2}}}
    common = {
        "tokenizer.json": json.dumps({"version": "1.0", "model": {"type": "BPE", "vocab": {"a": 0}}}).encode(),
        "tokenizer_config.json": b'{"bos_token": "<s>"}',
        "generation_config.json": b'{"do_sample": false}',
        "model.safetensors.index.json": json.dumps(index).encode(),
        SHARD1: safetensors_bytes(shard1, scratch / "s1"),
        SHARD2: safetensors_bytes(shard2, scratch / "s2"),
        "consolidated.safetensors": safetensors_bytes(make_tensors(3, 1, 1000), scratch / "c"),
        "pytorch_model.bin": b"\x80\x02pickled weights",
        "original/params.json": b'{"dim": 8}',
        "README.md": b"# tiny moe\n",
    }
    lfs = [SHARD1, SHARD2, "consolidated.safetensors", "pytorch_model.bin"]
    t = HubTree(root)
    t.old_commit = hashlib.sha1(b"old").hexdigest()
    t.new_commit = hashlib.sha1(b"new").hexdigest()
    t.add_commit(REPO, t.old_commit, {**common, "config.json": b'{"model_type": "mixtral", "v": 1}'}, lfs, refs=["v1.0"])
    t.add_commit(REPO, t.new_commit, {**common, "config.json": b'{"model_type": "mixtral", "v": 2}'}, lfs, refs=["main"])
    t.private_commit = hashlib.sha1(b"private").hexdigest()
    t.add_commit(PRIVATE, t.private_commit, {"config.json": b'{"model_type": "mistral"}', SHARD1: common[SHARD2]},
                 [SHARD1], refs=["main"], private=True)
    t.shard_tensors = {**shard1, **shard2}
    return t


class FakeHub:
    """Two loopback HTTP servers: the Hub API/resolve endpoint and an LFS storage host."""

    def __init__(self, tree: HubTree):
        self.tree = tree
        self.log = []          # (server, method, path, headers) for every request
        self.drop_after = {}   # file name -> close the connection after this many bytes, once
        self.eof_after = {}    # file name -> once, send no Content-Length and end the body early
        self.corrupt = set()   # file names served with one byte flipped
        self.ignore_range = set()
        self.slow = {}         # file name -> seconds to spread the body over
        self.api_blobs = True  # whether ?blobs=true adds blobId/size/lfs
        self.hub = self._serve("hub")
        self.storage = self._serve("storage")
        self.endpoint = f"http://127.0.0.1:{self.hub.server_address[1]}"

    def _serve(self, role):
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self._handle(body=False)

            def do_GET(self):
                self._handle(body=True)

            def _handle(self, body):
                fake.log.append((role, self.command, self.path, dict(self.headers)))
                try:
                    if role == "hub":
                        fake.handle_hub(self, body)
                    else:
                        fake.handle_storage(self, body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def close(self):
        for server in (self.hub, self.storage):
            server.shutdown()
            server.server_close()

    def requests(self, role=None, method=None):
        return [r for r in self.log if (role is None or r[0] == role) and (method is None or r[1] == method)]

    def storage_gets(self, name):
        """The GETs the storage host got for file `name`, in order."""
        return [r for r in self.requests("storage", "GET") if f"name={name}&" in r[2]]

    # --- the Hub ---------------------------------------------------------------------------------
    def authorized(self, handler, repo):
        if not self.tree.repos[repo]["private"]:
            return True
        return handler.headers.get("Authorization") == f"Bearer {TOKEN}"

    def reply(self, handler, status, headers=None, data=b"", body=True):
        handler.send_response(status)
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if body:
            handler.wfile.write(data)

    def error(self, handler, status, code, body):
        self.reply(handler, status, {"X-Error-Code": code, "Content-Type": "application/json"},
                   json.dumps({"error": code}).encode(), body)

    def handle_hub(self, handler, body):
        url = urllib.parse.urlsplit(handler.path)
        path = urllib.parse.unquote(url.path)
        if path.startswith("/api/models/"):
            rest = path[len("/api/models/"):]
            if "/tree/" in rest:  # what huggingface_hub's snapshot_download lists files with
                repo, _, revision = rest.partition("/tree/")
                return self.tree_listing(handler, repo, revision, body)
            repo, _, revision = rest.partition("/revision/")
            return self.model_info(handler, repo, revision, "blobs=true" in url.query, body)
        parts = url.path.lstrip("/").split("/", 4)
        if len(parts) == 5 and parts[2] == "resolve":
            repo = parts[0] + "/" + parts[1]
            return self.resolve(handler, repo, urllib.parse.unquote(parts[3]), urllib.parse.unquote(parts[4]), body)
        self.error(handler, 404, "EntryNotFound", body)

    def lookup(self, handler, repo, revision, body):
        if repo not in self.tree.repos:
            self.error(handler, 404, "RepoNotFound", body)
            return None
        if not self.authorized(handler, repo):
            self.error(handler, 401, "RepoNotFound", body)
            return None
        commit = self.tree.commit_of(repo, revision)
        if commit is None:
            self.error(handler, 404, "RevisionNotFound", body)
        return commit

    def model_info(self, handler, repo, revision, blobs, body):
        commit = self.lookup(handler, repo, revision, body)
        if commit is None:
            return
        siblings = []
        lfs = self.tree.repos[repo]["lfs"]
        for name, data in self.tree.files(repo, commit).items():
            sibling = {"rfilename": name}
            if blobs and self.api_blobs:
                if name in lfs:
                    pointer = lfs_pointer(data)
                    sibling.update(blobId=git_blob_id(pointer), size=len(pointer),
                                   lfs={"sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
                                        "pointerSize": len(pointer)})
                else:
                    sibling.update(blobId=git_blob_id(data), size=len(data))
            siblings.append(sibling)
        info = {"id": repo, "modelId": repo, "sha": commit, "private": self.tree.repos[repo]["private"],
                "siblings": siblings}
        self.reply(handler, 200, {"Content-Type": "application/json"}, json.dumps(info).encode(), body)

    def tree_listing(self, handler, repo, revision, body):
        commit = self.lookup(handler, repo, revision, body)
        if commit is None:
            return
        entries = []
        for name, data in self.tree.files(repo, commit).items():
            entry = {"type": "file", "path": name, "oid": git_blob_id(data), "size": len(data)}
            if name in self.tree.repos[repo]["lfs"]:
                pointer = lfs_pointer(data)
                entry.update(oid=git_blob_id(pointer), lfs={"oid": hashlib.sha256(data).hexdigest(), "size": len(data),
                                                            "pointerSize": len(pointer)})
            entries.append(entry)
        self.reply(handler, 200, {"Content-Type": "application/json"}, json.dumps(entries).encode(), body)

    def resolve(self, handler, repo, revision, name, body):
        commit = self.lookup(handler, repo, revision, body)
        if commit is None:
            return
        files = self.tree.files(repo, commit)
        if name not in files:
            return self.error(handler, 404, "EntryNotFound", body)
        data = files[name]
        if name in self.tree.repos[repo]["lfs"]:
            sha = hashlib.sha256(data).hexdigest()
            location = (f"http://127.0.0.1:{self.storage.server_address[1]}/lfs/{sha}?name={name}"
                        f"&X-Amz-Credential={PRESIGNED_CREDENTIAL}&X-Amz-Signature=f00d")
            return self.reply(handler, 302, {
                "Location": location, "X-Repo-Commit": commit, "ETag": f'"{git_blob_id(lfs_pointer(data))}"',
                "X-Linked-Etag": f'"{sha}"', "X-Linked-Size": str(len(data))}, b"", body)
        self.send_bytes(handler, name, data, {"X-Repo-Commit": commit, "ETag": f'W/"{git_blob_id(data)}"'}, body)

    # --- LFS storage -----------------------------------------------------------------------------
    def handle_storage(self, handler, body):
        url = urllib.parse.urlsplit(handler.path)
        if f"X-Amz-Credential={PRESIGNED_CREDENTIAL}&" not in url.query:
            return self.reply(handler, 403, {}, b"SignatureDoesNotMatch", body)  # the URL must arrive as sent
        name = urllib.parse.parse_qs(url.query)["name"][0]
        sha = url.path.rsplit("/", 1)[1]
        for repo in self.tree.repos:
            for commit in self.tree.repos[repo]["refs"].values():
                data = self.tree.files(repo, commit).get(name)
                if data is not None and hashlib.sha256(data).hexdigest() == sha:
                    if name in self.corrupt:
                        data = data[:-1] + bytes([data[-1] ^ 0xFF])
                    return self.send_bytes(handler, name, data, {"ETag": f'"{sha}"'}, body)
        self.reply(handler, 404, {}, b"NoSuchKey", body)

    def send_bytes(self, handler, name, data, headers, body):
        start = 0
        wanted = handler.headers.get("Range")
        if wanted and name not in self.ignore_range:
            start = int(wanted.removeprefix("bytes=").split("-")[0])
        status = 206 if start else 200
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        if status == 206:
            handler.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        eof = self.eof_after.pop(name, None) if body else None
        if eof is None:
            handler.send_header("Content-Length", str(len(data) - start))
        else:
            handler.send_header("Connection", "close")  # the body ends where the connection does
            handler.close_connection = True
        handler.send_header("Accept-Ranges", "bytes")
        handler.end_headers()
        if not body:
            return
        payload = data[start:]
        if eof is not None:
            handler.wfile.write(payload[:eof])
            return
        drop = self.drop_after.pop(name, None)
        if drop is not None:
            handler.wfile.write(payload[:drop])
            handler.wfile.flush()
            handler.connection.shutdown(socket.SHUT_RDWR)
            handler.close_connection = True
            return
        seconds = self.slow.get(name)
        if seconds:
            pieces = 20
            step = len(payload) // pieces + 1
            for i in range(0, len(payload), step):
                handler.wfile.write(payload[i:i + step])
                handler.wfile.flush()
                time.sleep(seconds / pieces)
            return
        handler.wfile.write(payload)


@pytest.fixture
def hub(tree):
    fake = FakeHub(tree)
    yield fake
    fake.close()


@pytest.fixture
def home(tmp_path):
    h = tmp_path / "home"
    h.mkdir()
    return h


def run_download(build_dir, hub, home, *args, env=None, timeout=120):
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
                "HF_ENDPOINT": hub.endpoint if hub else "http://127.0.0.1:9"}
    full_env.update(env or {})
    return subprocess.run([str(build_dir / "mixserve"), "download", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout)


def default_cache(home):
    return home / ".cache" / "huggingface" / "hub"


def repo_dir(cache, repo=REPO):
    return cache / ("models--" + repo.replace("/", "--"))


def error_line(proc):
    """The one-line error at the end of stderr (progress lines may precede it)."""
    lines = proc.stderr.strip().splitlines()
    assert lines, "expected an error on stderr"
    assert lines[-1].startswith("mixserve download: "), proc.stderr
    return lines[-1]


EXPECTED_FILES = {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                  "model.safetensors.index.json", SHARD1, SHARD2}
LFS_FILES = {SHARD1, SHARD2}


def expected_etag(name, data):
    return hashlib.sha256(data).hexdigest() if name in LFS_FILES else git_blob_id(data)


def test_full_download_lays_out_the_hub_cache(build_dir, hub, home, tree):
    proc = run_download(build_dir, hub, home, "--model", f"hf://{REPO}")
    assert proc.returncode == 0, proc.stderr
    cache = default_cache(home)
    snapshot = repo_dir(cache) / "snapshots" / tree.new_commit
    assert proc.stdout == f"{snapshot}\n"

    source = tree.files(REPO, tree.new_commit)
    listed = {p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if not p.is_dir()}
    assert listed == EXPECTED_FILES  # no README, .bin, consolidated.*, original/
    for name in EXPECTED_FILES:
        link = snapshot / name
        etag = expected_etag(name, source[name])
        assert link.is_symlink()
        assert os.readlink(link) == f"../../blobs/{etag}"
        assert link.read_bytes() == source[name]
    blobs = sorted(p.name for p in (repo_dir(cache) / "blobs").iterdir())
    assert blobs == sorted(expected_etag(n, source[n]) for n in EXPECTED_FILES)
    assert (repo_dir(cache) / "refs" / "main").read_text() == tree.new_commit

    loaded = {**load_file(str(snapshot / SHARD1)), **load_file(str(snapshot / SHARD2))}
    assert loaded.keys() == tree.shard_tensors.keys()
    for key, value in tree.shard_tensors.items():
        np.testing.assert_array_equal(loaded[key], value)

    # LFS bytes came from the storage host after a redirect; plain files straight from the Hub.
    storage_gets = {urllib.parse.parse_qs(urllib.parse.urlsplit(r[2]).query)["name"][0]
                    for r in hub.requests("storage", "GET")}
    assert storage_gets == LFS_FILES
    for name in (SHARD1, SHARD2):
        assert any(f"{name} 3.0/3.0 MB" in line or f"{name} 1.0/1.0 MB" in line for line in proc.stderr.splitlines())
    assert "MB/s, done in" in proc.stderr


def test_cache_is_readable_by_huggingface_hub(build_dir, hub, home, tree):
    huggingface_hub = pytest.importorskip("huggingface_hub")
    cache = home / "shared-cache"
    proc = run_download(build_dir, hub, home, "--model", f"hf://{REPO}", "--cache-dir", str(cache))
    assert proc.returncode == 0, proc.stderr
    info = huggingface_hub.scan_cache_dir(cache)
    assert not info.warnings
    (repo,) = info.repos
    assert repo.repo_id == REPO and repo.repo_type == "model"
    (revision,) = repo.revisions
    assert revision.commit_hash == tree.new_commit
    assert revision.refs == frozenset({"main"})
    assert {f.file_name for f in revision.files} == {pathlib.PurePath(n).name for n in EXPECTED_FILES}
    found = huggingface_hub.try_to_load_from_cache(REPO, "config.json", cache_dir=cache)
    assert pathlib.Path(found).read_bytes() == tree.files(REPO, tree.new_commit)["config.json"]


def run_huggingface_hub(hub, home, cache, call):
    """Runs huggingface_hub's `call` (Python source) in a child so it reads HF_ENDPOINT at import."""
    code = f"import huggingface_hub, sys\nprint({call})"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "HF_ENDPOINT": hub.endpoint,
           "HF_HUB_CACHE": str(cache), "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_cache_is_shared_with_huggingface_hub_both_ways(build_dir, hub, home, tree):
    pytest.importorskip("huggingface_hub")
    patterns = sorted(EXPECTED_FILES)
    # huggingface_hub fills the cache; mixserve then finds every blob and only asks which commit main is.
    first = home / "filled-by-python"
    filled = run_huggingface_hub(hub, home, first, f"huggingface_hub.snapshot_download({REPO!r}, "
                                                   f"allow_patterns={patterns!r})")
    assert filled.returncode == 0, filled.stderr
    before = len(hub.log)
    ours = run_download(build_dir, hub, home, "--model", f"hf://{REPO}", "--cache-dir", str(first))
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == filled.stdout
    assert [(r[0], r[1]) for r in hub.log[before:]] == [("hub", "GET")]

    # mixserve fills the cache; huggingface_hub then downloads no bytes (it still asks for metadata).
    second = home / "filled-by-mixserve"
    ours = run_download(build_dir, hub, home, "--model", f"hf://{REPO}", "--cache-dir", str(second))
    assert ours.returncode == 0, ours.stderr
    before = len(hub.log)
    reused = run_huggingface_hub(hub, home, second, f"huggingface_hub.snapshot_download({REPO!r}, "
                                                    f"allow_patterns={patterns!r})")
    assert reused.returncode == 0, reused.stderr
    assert reused.stdout == ours.stdout
    assert not [r for r in hub.log[before:] if r[1] == "GET" and (r[0] == "storage" or "/resolve/" in r[2])]


def test_second_run_downloads_nothing(build_dir, hub, home):
    first = run_download(build_dir, hub, home, "--model", f"hf://{REPO}")
    assert first.returncode == 0, first.stderr
    before = len(hub.log)
    second = run_download(build_dir, hub, home, "--model", f"hf://{REPO}")
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout
    later = hub.log[before:]
    assert [(r[0], r[1], urllib.parse.urlsplit(r[2]).path) for r in later] == [
        ("hub", "GET", f"/api/models/{REPO}/revision/main")]


def test_dropped_download_resumes_with_a_range_request(build_dir, hub, home, tree):
    hub.drop_after[SHARD1] = 1_000_000
    proc = run_download(build_dir, hub, home, "--model", f"hf://{REPO}")
    assert proc.returncode == 0, proc.stderr
    gets = hub.storage_gets(SHARD1)
    assert len(gets) == 2
    assert "Range" not in gets[0][3]
    resumed_at = int(gets[1][3]["Range"].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= 1_000_000
    assert "resuming at" in proc.stderr
    data = tree.files(REPO, tree.new_commit)[SHARD1]
    blob = repo_dir(default_cache(home)) / "blobs" / hashlib.sha256(data).hexdigest()
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    assert not list((repo_dir(default_cache(home)) / "blobs").glob("*.incomplete"))


def test_body_that_ends_early_without_a_length_is_resumed(build_dir, hub, home, tree):
    hub.eof_after[SHARD2] = 300_000
    proc = run_download(build_dir, hub, home, "--model", f"hf://{REPO}")
    assert proc.returncode == 0, proc.stderr
    assert [g[3].get("Range") for g in hub.storage_gets(SHARD2)] == [None, "bytes=300000-"]
    data = tree.files(REPO, tree.new_commit)[SHARD2]
    assert f"{SHARD2}: the transfer ended after 300000 of {len(data)} bytes; retrying in" in proc.stderr
    assert (pathlib.Path(proc.stdout.strip()) / SHARD2).read_bytes() == data


def plant_partial_blob(home, tree, size):
    """Leaves the first `size` bytes of SHARD1 as an interrupted download; returns (data, blob path)."""
    data = tree.files(REPO, tree.new_commit)[SHARD1]
    blob = repo_dir(default_cache(home)) / "blobs" / hashlib.sha256(data).hexdigest()
    blob.parent.mkdir(parents=True)
    blob.with_name(blob.name + ".incomplete").write_bytes(data[:size])
    return data, blob


def test_partial_blob_from_an_earlier_run_is_resumed(build_dir, hub, home, tree):
    data, blob = plant_partial_blob(home, tree, 1_234_567)
    proc = run_download(build_dir, hub, home, "--model", f"hf://{REPO}")
    assert proc.returncode == 0, proc.stderr
    assert [g[3].get("Range") for g in hub.storage_gets(SHARD1)] == ["bytes=1234567-"]
    assert blob.read_bytes() == data
    assert not blob.with_name(blob.name + ".incomplete").exists()


def test_server_that_ignores_range_restarts_from_zero(build_dir, hub, home, tree):
    data, blob = plant_partial_blob(home, tree, 500_000)
    hub.ignore_range.add(SHARD1)
    proc = run_download(build_dir, hub, home, "--model", f"hf://{REPO}")
    assert proc.returncode == 0, proc.stderr
    assert [g[3].get("Range") for g in hub.storage_gets(SHARD1)] == ["bytes=500000-", None]
    assert blob.read_bytes() == data


def test_two_processes_share_one_download(build_dir, hub, home, tree):
    hub.slow[SHARD1] = 2.0
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "HF_ENDPOINT": hub.endpoint}
    command = [str(build_dir / "mixserve"), "download", "--model", f"hf://{REPO}"]
    procs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert outs[0][0] == outs[1][0]
    # The blob lock (the file huggingface_hub locks too) lets only one process fetch each blob.
    for name in LFS_FILES:
        assert len(hub.storage_gets(name)) == 1
    assert (pathlib.Path(outs[0][0].strip()) / SHARD1).read_bytes() == tree.files(REPO, tree.new_commit)[SHARD1]


def test_wrong_checksum_leaves_nothing_behind(build_dir, hub, home, tree):
    hub.corrupt.add(SHARD2)
    proc = run_download(build_dir, hub, home, "--model", f"hf://{REPO}")
    assert proc.returncode == 1
    data = tree.files(REPO, tree.new_commit)[SHARD2]
    sha = hashlib.sha256(data).hexdigest()
    bad = data[:-1] + bytes([data[-1] ^ 0xFF])
    assert error_line(proc) == (f"mixserve download: hf://{REPO}: {SHARD2}: sha256 mismatch: expected {sha}, "
                                f"got {hashlib.sha256(bad).hexdigest()}")
    assert proc.stdout == ""
    repo = repo_dir(default_cache(home))
    assert not (repo / "snapshots" / tree.new_commit / SHARD2).exists()
    assert not (repo / "blobs" / sha).exists()
    assert not (repo / "blobs" / f"{sha}.incomplete").exists()
    assert not (repo / "refs" / "main").exists()


def test_private_repo_needs_a_token_that_is_never_printed(build_dir, hub, home, tree):
    denied = run_download(build_dir, hub, home, "--model", f"hf://{PRIVATE}")
    assert denied.returncode == 1
    token_file = home / ".cache" / "huggingface" / "token"
    assert error_line(denied) == (f"mixserve download: hf://{PRIVATE}: access denied (401); set HF_TOKEN or write "
                                  f"a token to {token_file} (or check the repository name)")

    wrong = run_download(build_dir, hub, home, "--model", f"hf://{PRIVATE}", env={"HF_TOKEN": "hf_wrong_token"})
    assert wrong.returncode == 1
    assert "access denied (401) with the token from HF_TOKEN" in error_line(wrong)
    assert "hf_wrong_token" not in wrong.stderr + wrong.stdout

    with_env = run_download(build_dir, hub, home, "--model", f"hf://{PRIVATE}", env={"HF_TOKEN": TOKEN})
    assert with_env.returncode == 0, with_env.stderr
    snapshot = pathlib.Path(with_env.stdout.strip())
    assert (snapshot / SHARD1).read_bytes() == tree.files(PRIVATE, tree.private_commit)[SHARD1]

    token_file.parent.mkdir(parents=True, exist_ok=True)
    token_file.write_text(TOKEN + "\n")
    with_file = run_download(build_dir, hub, home, "--model", f"hf://{PRIVATE}", "--cache-dir", str(home / "c2"))
    assert with_file.returncode == 0, with_file.stderr

    other_file = home / "elsewhere-token"
    other_file.write_text(TOKEN)
    token_file.unlink()
    with_path = run_download(build_dir, hub, home, "--model", f"hf://{PRIVATE}", "--cache-dir", str(home / "c3"),
                             env={"HF_TOKEN_PATH": str(other_file)})
    assert with_path.returncode == 0, with_path.stderr

    for proc in (denied, wrong, with_env, with_file, with_path):
        assert TOKEN not in proc.stderr + proc.stdout
    # The token goes to the Hub only, never to the storage host the Hub redirects to.
    assert any(r[3].get("Authorization") == f"Bearer {TOKEN}" for r in hub.requests("hub"))
    assert hub.requests("storage")
    assert not any("Authorization" in r[3] for r in hub.requests("storage"))


def test_missing_repo_and_revision(build_dir, hub, home):
    proc = run_download(build_dir, hub, home, "--model", "hf://acme/no-such-model")
    assert proc.returncode == 1
    assert error_line(proc) == "mixserve download: hf://acme/no-such-model: repository or revision not found"
    rev = run_download(build_dir, hub, home, "--model", f"hf://{REPO}@v9")
    assert rev.returncode == 1
    assert error_line(rev) == f"mixserve download: hf://{REPO}@v9: repository or revision not found"
    assert not default_cache(home).exists() or not any(default_cache(home).rglob("*snapshots*/*"))


def test_pinned_revision(build_dir, hub, home, tree):
    by_tag = run_download(build_dir, hub, home, "--model", f"hf://{REPO}@v1.0")
    assert by_tag.returncode == 0, by_tag.stderr
    repo = repo_dir(default_cache(home))
    assert by_tag.stdout.strip() == str(repo / "snapshots" / tree.old_commit)
    assert (repo / "snapshots" / tree.old_commit / "config.json").read_bytes() == b'{"model_type": "mixtral", "v": 1}'
    assert (repo / "refs" / "v1.0").read_text() == tree.old_commit
    assert not (repo / "refs" / "main").exists()

    by_flag = run_download(build_dir, hub, home, "--model", f"hf://{REPO}", "--revision", "v1.0")
    assert by_flag.stdout == by_tag.stdout

    by_hash = run_download(build_dir, hub, home, "--model", f"hf://{REPO}@{tree.new_commit}")
    assert by_hash.returncode == 0, by_hash.stderr
    assert by_hash.stdout.strip() == str(repo / "snapshots" / tree.new_commit)
    assert sorted(p.name for p in (repo / "refs").iterdir()) == ["v1.0"]
    # Both snapshots share the blobs that did not change between the commits.
    assert len(list((repo / "blobs").iterdir())) == len(EXPECTED_FILES) + 1

    clash = run_download(build_dir, hub, home, "--model", f"hf://{REPO}@v1.0", "--revision", "main")
    assert clash.returncode == 1
    assert "'v1.0'" in error_line(clash)


def test_offline_uses_the_cache_only(build_dir, hub, home, tree):
    missing = run_download(build_dir, hub, home, "--model", f"hf://{REPO}", env={"HF_HUB_OFFLINE": "1"})
    assert missing.returncode == 1
    assert error_line(missing).startswith(f"mixserve download: hf://{REPO}: not in the cache at ")
    assert not hub.log

    online = run_download(build_dir, hub, home, "--model", f"hf://{REPO}")
    assert online.returncode == 0, online.stderr
    hub.close()
    before = len(hub.log)
    offline = run_download(build_dir, hub, home, "--model", f"hf://{REPO}", env={"HF_HUB_OFFLINE": "1"})
    assert offline.returncode == 0, offline.stderr
    assert offline.stdout == online.stdout
    assert len(hub.log) == before

    # Without the offline switch, an unreachable Hub falls back to the cached snapshot with a warning.
    unreachable = run_download(build_dir, hub, home, "--model", f"hf://{REPO}")
    assert unreachable.returncode == 0, unreachable.stderr
    assert unreachable.stdout == online.stdout
    assert "using the cached snapshot" in unreachable.stderr
    assert hub.endpoint in unreachable.stderr


def test_include_globs_choose_the_files(build_dir, hub, home, tree):
    proc = run_download(build_dir, hub, home, "--model", f"hf://{REPO}", "--include", "*.json",
                        "--include", "original/*")
    assert proc.returncode == 0, proc.stderr
    snapshot = pathlib.Path(proc.stdout.strip())
    listed = {p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if not p.is_dir()}
    assert listed == {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                      "model.safetensors.index.json", "original/params.json"}
    assert os.readlink(snapshot / "original" / "params.json").startswith("../../../blobs/")
    assert not hub.requests("storage")


def test_listing_without_blob_metadata_uses_resolve_headers(build_dir, hub, home, tree):
    hub.api_blobs = False
    proc = run_download(build_dir, hub, home, "--model", f"hf://{REPO}")
    assert proc.returncode == 0, proc.stderr
    snapshot = pathlib.Path(proc.stdout.strip())
    source = tree.files(REPO, tree.new_commit)
    for name in EXPECTED_FILES:
        assert os.readlink(snapshot / name) == f"../../blobs/{expected_etag(name, source[name])}"
    heads = {urllib.parse.unquote(r[2]).rsplit("/", 1)[1] for r in hub.requests("hub", "HEAD")}
    assert EXPECTED_FILES <= heads


def test_slow_download_logs_progress_with_eta(build_dir, hub, home):
    hub.slow[SHARD1] = 5.0
    proc = run_download(build_dir, hub, home, "--model", f"hf://{REPO}", "--include", SHARD1)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if SHARD1 in line]
    during = [line for line in lines if "ETA" in line]
    assert 1 <= len(during) <= 3, proc.stderr  # about every 2 s over ~5 s
    assert "/3.0 MB, " in during[0] and " MB/s, ETA " in during[0]
    assert lines[-1].startswith(f"hf://{REPO}: {SHARD1} 3.0/3.0 MB, ") and ", done in " in lines[-1]


def test_bad_sources_are_one_line_errors(build_dir, home, tmp_path):
    cases = {
        "pvc://claim/model": "mixserve download: model source 'pvc://claim/model': unsupported scheme 'pvc' "
                             "(use a local folder, file:// or hf://)",
        str(tmp_path / "nowhere"): f"mixserve download: model folder {tmp_path / 'nowhere'} does not exist",
        "hf://just-a-name": "mixserve download: model source 'hf://just-a-name': expected hf://org/name[@revision]",
    }
    for uri, message in cases.items():
        proc = run_download(build_dir, None, home, "--model", uri)
        assert proc.returncode == 1, uri
        assert proc.stderr == message + "\n"
        assert proc.stdout == ""
    (tmp_path / "model").mkdir()
    no_config = run_download(build_dir, None, home, "--model", f"file://{tmp_path / 'model'}")
    assert no_config.stderr == f"mixserve download: {tmp_path / 'model'}/config.json: not found " \
                               f"(is {tmp_path / 'model'} a model folder?)\n"
    (tmp_path / "model" / "config.json").write_text("{}")
    ok = run_download(build_dir, None, home, "--model", str(tmp_path / "model"))
    assert ok.returncode == 0 and ok.stdout == f"{tmp_path / 'model'}\n"
    usage = run_download(build_dir, None, home, "--revision", "main")
    assert usage.returncode == 2 and "--model is required" in usage.stderr
    assert not (home / ".cache").exists()
