"""How every entry point starts the ASGI server (run command, tests, benchmark).

``uvicorn`` (uvloop, httptools, the wsproto WebSocket implementation) is the
production server: it measured fastest for the realtime path (README, "Benchmark").
``daphne`` stays supported: set ``ASGI_SERVER=daphne``. Both refuse client
WebSocket messages over ``MAX_MESSAGE_BYTES`` (closed with 1009) before buffering
them.
"""

from __future__ import annotations

import os
import sys

SERVERS = ("uvicorn", "daphne")
MAX_MESSAGE_BYTES = 64 * 1024


def default_server() -> str:
    server = os.environ.get("ASGI_SERVER", "uvicorn") or "uvicorn"
    if server not in SERVERS:
        raise SystemExit(f"ASGI_SERVER must be one of {', '.join(SERVERS)}, not {server!r}")
    return server


def command(
    host: str, port: int, *, server: str | None = None, python: str = sys.executable
) -> list[str]:
    """The argv that serves ``config.asgi:application`` on ``host:port``."""
    server = server or default_server()
    if server == "daphne":
        # No --proxy-headers: Daphne then takes the client address from the socket only.
        return [
            python,
            "-m",
            "daphne",
            "-b",
            host,
            "-p",
            str(port),
            "--websocket-max-message-size",
            str(MAX_MESSAGE_BYTES),
            "--websocket-max-frame-size",
            str(MAX_MESSAGE_BYTES),
            "config.asgi:application",
        ]
    return [
        python,
        "-m",
        "uvicorn",
        "config.asgi:application",
        "--host",
        host,
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--ws",
        "wsproto",
        "--ws-max-size",
        str(MAX_MESSAGE_BYTES),
        "--lifespan",
        "off",
        "--no-access-log",
        # The application alone decides the client IP (core/throttle.py, TRUSTED_PROXIES):
        # uvicorn would otherwise rewrite it from X-Forwarded-For for loopback peers.
        "--no-proxy-headers",
        "--log-level",
        "warning",
        # Sockets still open at shutdown get this long to close before they are cut.
        "--timeout-graceful-shutdown",
        "5",
    ]


if __name__ == "__main__":  # print the command, e.g. for compose or a shell
    print(" ".join(command(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1", 8000)))
