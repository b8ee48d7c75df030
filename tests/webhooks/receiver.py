"""A real local HTTP receiver for webhook deliveries, in the test process.

    with Receiver() as hook:                      # answers 200 to everything
        ...
        hook.wait_for(3)
        hook.requests[0].json()["id"]

``decide(request, nth)`` picks the answer to each request: an HTTP status, or
``Hang(seconds)`` to hold the connection open without answering (then 200). ``nth``
counts the requests carrying the same event id so far (1 for the first). The
receiver also records how many requests were being handled at once (``max_in_flight``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Hang:
    seconds: float


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    started: float
    answered: int | None = None
    finished: float | None = None

    def json(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def event_id(self) -> str:
        return self.json()["id"]


Decide = Callable[[Received, int], "int | Hang"]


@dataclass
class Receiver:
    decide: Decide = lambda request, nth: 200
    requests: list[Received] = field(default_factory=list)
    max_in_flight: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight = 0
        self._closing = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str = "/hooks/eldonia?token=receiver-query-token") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length)
        request = Received(
            handler.command,
            handler.path,
            {k.lower(): v for k, v in handler.headers.items()},
            body,
            time.monotonic(),
        )
        with self._lock:
            try:
                event_id = request.event_id
            except (ValueError, KeyError):
                event_id = None
            nth = 1 + sum(1 for r in self.requests if _safe_id(r) == event_id)
            self.requests.append(request)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            answer = self.decide(request, nth)
            if isinstance(answer, Hang):
                self._closing.wait(answer.seconds)
                answer = 200
            request.answered = answer
            handler.send_response(answer)
            handler.send_header("Content-Type", "text/plain")
            handler.send_header("Content-Length", "2")
            handler.end_headers()
            handler.wfile.write(b"ok")
        except OSError:
            pass  # the sender gave up on us (timeout): fine
        finally:
            request.finished = time.monotonic()
            with self._lock:
                self._in_flight -= 1

    def wait_for(self, count: int, timeout: float = 60) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.05)
        raise AssertionError(f"receiver got {len(self.requests)} requests, expected {count}")

    def delivered(self) -> list[Received]:
        """The requests answered with a 2xx, in the order they were received."""
        with self._lock:
            return [r for r in self.requests if r.answered is not None and 200 <= r.answered < 300]

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()


def _safe_id(request: Received) -> str | None:
    try:
        return request.event_id
    except (ValueError, KeyError):
        return None
