"""Real server processes for end-to-end tests: Daphne on a free port, sharing the
test database and the test run's Redis prefix with the test process.

Data written by a test must be committed to be seen by these processes, so tests
using them run with ``@pytest.mark.django_db(transaction=True)``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import httpx
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
WEBSOCKET_MAX_MESSAGE_BYTES = 64 * 1024  # as scripts/run.py starts Daphne


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


class DaphneServer(ManagedProcess):
    def __init__(self, log_dir: Path, env: dict[str, str] | None = None, name: str = "daphne"):
        self.port = free_port()
        super().__init__(
            name,
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                # Client frames over 64 KiB are refused by Daphne (closed with 1009).
                "--websocket-max-message-size",
                str(WEBSOCKET_MAX_MESSAGE_BYTES),
                "--websocket-max-frame-size",
                str(WEBSOCKET_MAX_MESSAGE_BYTES),
                "config.asgi:application",
            ],
            env or subprocess_env(),
            log_dir,
        )
        self.wait_ready()

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


@contextmanager
def daphne(log_dir: Path, **env: str) -> Iterator[DaphneServer]:
    server = DaphneServer(log_dir, subprocess_env(**env))
    try:
        yield server
    finally:
        server.stop()


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
