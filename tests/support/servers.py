"""Real server processes for end-to-end tests: the ASGI server (uvicorn, or Daphne)
on a free port, sharing the test database and the test run's Redis prefix with the
test process.

The server is started with ``scripts/asgi_server.py``'s command, as every other entry
point starts it: ``TEST_ASGI_SERVER`` (``uvicorn`` by default, or ``daphne``) picks
it for the whole run; ``server=`` picks it for one process.

Data written by a test must be committed to be seen by these processes, so tests
using them run with ``@pytest.mark.django_db(transaction=True)``.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from urllib.parse import quote

import httpx
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def load_module(relative_path: str, name: str) -> ModuleType:
    """A module from ``scripts/`` or ``deploy/`` (not packages), by its file."""
    spec = importlib.util.spec_from_file_location(name, ROOT / relative_path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def wait_until(check: Callable[[], object], what: str, timeout: float = 30) -> object:
    """Poll ``check`` until it returns something truthy (returned), or fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


asgi_script = load_module("scripts/asgi_server.py", "asgi_server")
SERVERS: tuple[str, ...] = asgi_script.SERVERS
WEBSOCKET_MAX_MESSAGE_BYTES: int = asgi_script.MAX_MESSAGE_BYTES


def default_server() -> str:
    """The server the e2e tests run on: ``TEST_ASGI_SERVER``, uvicorn by default."""
    server = os.environ.get("TEST_ASGI_SERVER") or "uvicorn"
    if server not in SERVERS:
        raise RuntimeError(f"TEST_ASGI_SERVER must be one of {SERVERS}, not {server!r}")
    return server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_database_url() -> str:
    """The URL of the database the tests are using right now (the test database)."""
    db = connection.settings_dict
    user = quote(db.get("USER") or "postgres")
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or ""
    socket_dir = (db.get("OPTIONS") or {}).get("host")
    if socket_dir:
        return f"postgresql://{user}{password}@/{db['NAME']}?host={socket_dir}"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgresql://{user}{password}@{host}{port}/{db['NAME']}"


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "REDIS_PREFIX": settings.REDIS_PREFIX,
        "DEBUG": "1",
        "PYTHONUNBUFFERED": "1",
        # Servers and workers use the connection pool, as in production (the test
        # process itself runs without it: scripts/test.sh).
        "DATABASE_POOL": "1",
    }
    env.update(extra)
    return env


class ManagedProcess:
    """A child process in its own session, killed with its children at the end."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Kill abruptly (no cleanup runs), e.g. to test a process dying mid-way."""
        if self.alive():
            os.killpg(self.proc.pid, sig)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()


class AsgiServer(ManagedProcess):
    """``config.asgi:application`` served on a free port by ``server`` (default:
    ``default_server()``), started exactly as ``scripts/asgi_server.py`` says; ready once
    ``/healthz`` answers 200. ``stop()`` sends SIGTERM to its process group."""

    def __init__(
        self,
        log_dir: Path,
        env: dict[str, str] | None = None,
        name: str | None = None,
        server: str | None = None,
    ):
        self.server = server or default_server()
        if self.server not in SERVERS:
            raise ValueError(f"server must be one of {SERVERS}, not {self.server!r}")
        self.port = free_port()
        super().__init__(
            name or self.server,
            asgi_script.command("127.0.0.1", self.port, server=self.server, python=sys.executable),
            env or subprocess_env(),
            log_dir,
        )
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited:\n{self.log()}")
            try:
                if httpx.get(f"{self.http_url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout}s:\n{self.log()}")


class DaphneServer(AsgiServer):
    """Daphne explicitly, whatever ``TEST_ASGI_SERVER`` says (the supported
    alternative to uvicorn; for tests of Daphne itself)."""

    def __init__(self, log_dir: Path, env: dict[str, str] | None = None, name: str = "daphne"):
        super().__init__(log_dir, env, name=name, server="daphne")


@contextmanager
def asgi_server(
    log_dir: Path, *, server: str | None = None, name: str | None = None, **env: str
) -> Iterator[AsgiServer]:
    """An ``AsgiServer`` for the block; ``env`` is added to the test environment."""
    process = AsgiServer(log_dir, subprocess_env(**env), name=name, server=server)
    try:
        yield process
    finally:
        process.stop()


@contextmanager
def daphne(log_dir: Path, **env: str) -> Iterator[AsgiServer]:
    """Daphne explicitly, for the block (see ``DaphneServer``)."""
    with asgi_server(log_dir, server="daphne", **env) as process:
        yield process


class CeleryWorker(ManagedProcess):
    """A real ``celery -A config worker`` on the test run's Redis broker and test
    database. ``pool="solo"`` runs tasks in the worker process itself, so killing the
    process group kills the task mid-way."""

    def __init__(
        self,
        log_dir: Path,
        env: dict[str, str] | None = None,
        name: str = "celery-worker",
        pool: str = "solo",
        concurrency: int = 1,
    ):
        cmd = [sys.executable, "-m", "celery", "-A", "config", "worker", "-P", pool]
        if pool != "solo":
            cmd += ["-c", str(concurrency)]
        cmd += ["-l", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"]
        cmd += ["-n", f"{name}-{os.getpid()}-{free_port()}@%h"]
        super().__init__(name, cmd, env or subprocess_env(), log_dir)
        self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> None:
        self.wait_for_log("ready.", timeout=timeout)

    def wait_for_log(self, text: str, timeout: float = 60, count: int = 1) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.log()
            if log.count(text) >= count:
                return log
            if not self.alive():
                raise RuntimeError(f"{self.name} exited:\n{self.log()}")
            time.sleep(0.2)
        raise RuntimeError(f"{self.name}: no {text!r} after {timeout}s:\n{self.log()}")


@contextmanager
def celery_worker(
    log_dir: Path, name: str = "celery-worker", pool: str = "solo", concurrency: int = 1, **env: str
) -> Iterator[CeleryWorker]:
    worker = CeleryWorker(
        log_dir, subprocess_env(**env), name=name, pool=pool, concurrency=concurrency
    )
    try:
        yield worker
    finally:
        worker.stop()
