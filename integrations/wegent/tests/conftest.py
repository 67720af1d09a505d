"""Fixtures: the REAL wegent-codex service (built `dist/`), the fake model, a callback sink.

The service runs as `node dist/apps/service/src/main.js` with every role, its own REDIS_PREFIX and a
free PORT; the scripted fake Responses API stands in for the model; an HTTP sink plays
executor_manager's callback route. Wegent's executor_manager is a stand-in (tests/standin) written
from its interface.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
KIT = os.path.dirname(HERE)
REPO = os.path.dirname(os.path.dirname(KIT))
DIST = os.path.join(REPO, "dist")
sys.path[:0] = [os.path.join(HERE, "standin"), KIT]

TOKEN = "kit-test-token-5f1e2d3c"
TERMINAL_EVENTS = {"response.completed", "error", "response.incomplete"}
TERMINAL_STATUSES = {"COMPLETED", "FAILED", "CANCELLED"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def is_terminal(body: dict) -> bool:
    return body.get("event_type") in TERMINAL_EVENTS or body.get("status") in TERMINAL_STATUSES


class CallbackSink:
    """executor_manager's callback and heartbeat routes: records every POST (path, JSON body)."""

    def __init__(self):
        self.posts = []
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"_raw": raw.decode("utf-8", "replace")}
                with sink._lock:
                    sink.posts.append((self.path, body))
                answer = b'{"status":"success"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/executor-manager/callback"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def callbacks_of(self, task_id: int, subtask_id: int):
        with self._lock:
            return [b for p, b in self.posts if p.endswith("/callback") and b.get("task_id") == task_id and b.get("subtask_id") == subtask_id]

    def terminal_of(self, task_id: int, subtask_id: int, timeout: float = 120):
        return wait_until(lambda: next((b for b in self.callbacks_of(task_id, subtask_id) if is_terminal(b)), None), timeout, f"the terminal callback of {task_id}.{subtask_id}")

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Node:
    """A node process of the build, stopped with SIGTERM (then SIGKILL) and always reaped."""

    def __init__(self, args, env, name):
        self.name = name
        self.proc = subprocess.Popen(["node", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.lines = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def redis_delete_prefix(redis_url: str, prefix: str) -> None:
    """SCAN + DEL over a bare socket (RESP), so the tests need no Redis client package."""
    url = urllib.parse.urlsplit(redis_url)
    with socket.create_connection((url.hostname or "127.0.0.1", url.port or 6379), timeout=5) as conn:
        reader = conn.makefile("rb")

        def command(*parts):
            out = f"*{len(parts)}\r\n".encode()
            for part in parts:
                data = str(part).encode()
                out += f"${len(data)}\r\n".encode() + data + b"\r\n"
            conn.sendall(out)
            return read()

        def read():
            line = reader.readline().rstrip(b"\r\n")
            kind, rest = line[:1], line[1:]
            if kind == b"*":
                return [read() for _ in range(int(rest))]
            if kind == b"$":
                return None if int(rest) < 0 else reader.read(int(rest) + 2)[:-2].decode()
            if kind == b"-":
                raise RuntimeError(rest.decode())
            return rest.decode()

        cursor = "0"
        while True:
            cursor, keys = command("SCAN", cursor, "MATCH", f"{prefix}:*", "COUNT", 1000)
            if keys:
                command("DEL", *keys)
            if cursor == "0":
                break


@pytest.fixture(scope="session")
def sink():
    s = CallbackSink()
    yield s
    s.close()


@pytest.fixture(scope="session")
def fake_model():
    main = os.path.join(DIST, "test/fixtures/fake-responses/fake-responses.main.js")
    assert os.path.exists(main), "dist/ is missing: run `npm run build` first"
    node = Node([main, "--port", "0"], dict(os.environ), "fake model")
    base_url = wait_until(lambda: next((l for l in node.lines if l.startswith("http")), None), 30, "the fake model's base URL")
    node.base_url = base_url.strip()
    yield node
    node.stop()


@pytest.fixture(scope="session")
def service(sink, fake_model):
    main = os.path.join(DIST, "apps/service/src/main.js")
    assert os.path.exists(main), "dist/ is missing: run `npm run build` first"
    port = free_port()
    prefix = f"kit-test-{uuid.uuid4().hex[:10]}"
    workspace = tempfile.mkdtemp(prefix="wegent-codex-kit-")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TZ", "TMPDIR") if k in os.environ}
    env.update(
        REDIS_URL=redis_url,
        REDIS_PREFIX=prefix,
        EMBEDDED_REDIS="never",
        HOST="127.0.0.1",
        PORT=str(port),
        API_TOKEN=TOKEN,
        CALLBACK_URL=sink.url,
        EXECUTOR_NAME="wegent-codex",
        WORKSPACE_ROOT=workspace,
        TASK_API_DOMAIN="http://127.0.0.1:9",
        CALLBACK_COALESCE_MS="100",
        CALLBACK_RETRY_BASE_MS="50",
        CODEX_REQUEST_MAX_RETRIES="0",
        CODEX_STREAM_MAX_RETRIES="0",
        CANCEL_GRACE_MS="500",
        LOG_LEVEL="warn",
    )
    node = Node([main], env, "wegent-codex")
    node.url = f"http://127.0.0.1:{port}"

    def ready():
        if node.proc.poll() is not None:
            raise AssertionError("wegent-codex exited:\n" + "\n".join(node.lines[-30:]))
        try:
            with urllib.request.urlopen(node.url + "/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    wait_until(ready, 60, "wegent-codex to be ready")
    yield node
    node.stop()
    redis_delete_prefix(redis_url, prefix)
    shutil.rmtree(workspace, ignore_errors=True)


@pytest.fixture
def kit_env(service):
    return {"WEGENT_CODEX_URL": service.url, "WEGENT_CODEX_TOKEN": TOKEN, "WEGENT_CODEX_FALLBACK": "executor_manager.executors.docker.DockerExecutor"}


@pytest.fixture
def script(fake_model):
    """Replaces the fake model's script for one test (default answer afterwards: "Done.")."""

    def put(turns):
        request = urllib.request.Request(fake_model.base_url.rsplit("/v1", 1)[0] + "/__fake/script", data=json.dumps(turns).encode(), method="PUT")
        request.add_header("Content-Type", "application/json")
        urllib.request.urlopen(request, timeout=5).read()

    yield put
    put([])
