"""The base of every WebSocket: a plain ASGI application instance per socket.

No per-message consumer dispatch, no channel-layer channel, no thread hop: room
events reach the socket through ``realtime.fanout`` (its ``Outlet``), and client
frames are parsed here. What a socket registered (fan-out groups, presence) is
released in ``finally`` by code that never awaits, so a normal close, a client gone
mid-snapshot, a handler that raises, a cancelled (killed) instance all clean up the
same way. Every rejected client frame is answered with an ``error`` frame (SPEC §7)
and the socket stays open.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.db import DatabaseSyncToAsync
from django.conf import settings

from core import metrics
from core.exceptions import ApplicationError
from realtime import event_types
from realtime.fanout import Message, Outlet, get_hub

logger = logging.getLogger(__name__)

CLOSE_LOGIN_REQUIRED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_MESSAGE_TOO_BIG = 1009
CLOSE_TRY_AGAIN_LATER = 1013

# The largest client frame accepted (the ASGI server is started with this limit too).
MAX_FRAME_BYTES = 64 * 1024
# Client frames per socket: a burst of FRAME_BURST, then FRAME_RATE per second.
FRAME_RATE = 20.0
FRAME_BURST = 120.0


_db_executor: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _db_executor
    if _db_executor is None:
        _db_executor = ThreadPoolExecutor(
            max_workers=int(getattr(settings, "REALTIME_DB_THREADS", 16)),
            thread_name_prefix="socket-db",
        )
    return _db_executor


def db_call(fn: Any) -> Any:
    """``fn`` (sync, database work) as a coroutine function for sockets. It runs on
    this process's socket database threads (``REALTIME_DB_THREADS``, each borrowing a
    pooled connection), side by side, never queued behind other sockets on one thread.
    The work is mostly waiting for PostgreSQL and Redis, so more threads than cores
    pay off."""

    async def call(*args: Any, **kwargs: Any) -> Any:
        return await DatabaseSyncToAsync(fn, thread_sensitive=False, executor=_executor())(
            *args, **kwargs
        )

    return call


class Socket:
    """One WebSocket. Subclasses implement ``connect`` and name their ``handlers``.

    ``handlers`` maps a client frame type to a method name; ``ping`` is built in. A
    handler may raise ``ApplicationError``; it becomes an ``error`` frame.
    """

    handlers: dict[str, str] = {}
    # The ``kind`` label of this socket's metrics (room, dashboard, overlay).
    metrics_kind = "other"

    def __init__(self, scope: dict[str, Any], send: Any) -> None:
        self.scope = scope
        self.send = send
        self.outlet = Outlet(send, accepts=self.accepts if self.filters_events else None)
        self.groups: list[str] = []
        self.accepted = False
        self.closed = False
        self._joined = False  # counted in metrics.sockets_open until the socket ends
        self._refusing = False
        self._releases: list[Any] = []
        self._tokens = FRAME_BURST
        self._refilled = time.monotonic()
        self._warned_at = 0.0

    filters_events = False

    def accepts(self, event: dict[str, Any]) -> bool:
        """Per-socket filter of room events (only when ``filters_events``)."""
        return True

    @classmethod
    def as_asgi(cls) -> Any:
        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            await cls(scope, send).run(receive)

        return app

    # ----------------------------------------------------------------- lifecycle

    async def run(self, receive: Any) -> None:
        try:
            if (await receive())["type"] != "websocket.connect":
                return
            try:
                await self.connect()
            except Exception:
                logger.exception("socket connect failed")
                if not self.closed:
                    await self.refuse(CLOSE_TRY_AGAIN_LATER)
                return
            while not self.closed:
                message = await receive()
                kind = message["type"]
                if kind == "websocket.receive":
                    await self.on_frame(message.get("text"))
                elif kind == "websocket.disconnect":
                    break
        finally:
            self.closed = True
            if self._joined:
                self._joined = False
                metrics.sockets_open[self.metrics_kind] -= 1
                metrics.socket_leaves[self.metrics_kind] += 1
            self.release()

    def release(self) -> None:
        """Unregister everything (idempotent, never awaits)."""
        get_hub().detach(self.outlet, self.groups)
        releases, self._releases = self._releases, []
        for release in releases:
            try:
                release()
            except Exception:
                logger.exception("socket cleanup step failed")

    def on_release(self, release: Any) -> None:
        """Run ``release()`` when the socket ends, however it ends."""
        self._releases.append(release)

    async def connect(self) -> None:
        raise NotImplementedError

    # ----------------------------------------------------------------- helpers

    async def subscribe(self, *groups: str) -> None:
        """Receive these groups' events (queued until ``open``)."""
        self.groups += groups
        await get_hub().attach(self.outlet, groups)

    async def accept(self) -> None:
        await self.send({"type": "websocket.accept"})
        self.accepted = True
        self.outlet.bind()
        if not self._refusing and not self._joined:
            self._joined = True
            metrics.socket_joins[self.metrics_kind] += 1
            metrics.sockets_open[self.metrics_kind] += 1

    def open(self, skip_chat_ids: Any = None) -> None:
        """The snapshot is sent: deliver what waited, then everything live."""
        self.outlet.open(skip_chat_ids)

    async def send_event(self, event: dict[str, Any]) -> None:
        self.outlet.send_message(Message.of(event))

    async def close(self, code: int) -> None:
        if self.closed:
            return
        self.closed = True
        await self.outlet.flush()
        self.outlet.release()
        with contextlib.suppress(Exception):  # the client is already gone
            await self.send({"type": "websocket.close", "code": code})

    async def refuse(self, code: int) -> None:
        """Close with an application close code the client can read: the handshake is
        accepted first (a close before accept reaches a browser as a bare HTTP 403)."""
        self._refusing = True
        metrics.socket_refusals[(self.metrics_kind, code)] += 1
        self.outlet.release()
        if not self.accepted:
            try:
                await self.accept()
            except Exception:
                self.closed = True
                return
        await self.close(code)

    async def send_error(self, code: str, message: str, retry_after: int | None = None) -> None:
        metrics.socket_error_frames[(self.metrics_kind, code)] += 1
        await self.send_event(event_types.error(code, message, retry_after))

    # ----------------------------------------------------------------- client frames

    def _take_token(self) -> bool:
        now = time.monotonic()
        self._tokens = min(FRAME_BURST, self._tokens + (now - self._refilled) * FRAME_RATE)
        self._refilled = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    async def on_frame(self, text: str | None) -> None:
        if not self._take_token():
            now = time.monotonic()
            if now - self._warned_at >= 1:
                self._warned_at = now
                await self.send_error("rate_limited", "Too many frames; slow down.", 1)
            return
        if text is None:
            await self.send_error("invalid_json", "Frames must be JSON text, not binary.")
            return
        if len(text) * 4 > MAX_FRAME_BYTES and (
            len(text.encode("utf-8", "surrogatepass")) > MAX_FRAME_BYTES
        ):
            await self.close(CLOSE_MESSAGE_TOO_BIG)
            return
        try:
            content = json.loads(text)
        except (ValueError, RecursionError):
            await self.send_error("invalid_json", "The frame is not valid JSON.")
            return
        if not isinstance(content, dict):
            await self.send_error("invalid_json", "The frame must be a JSON object.")
            return
        frame_type = content.get("type")
        if frame_type == "ping":
            await self.send_event(event_types.pong())
            return
        method = self.handlers.get(frame_type) if isinstance(frame_type, str) else None
        if method is None:
            await self.send_error(
                "unknown_type",
                f"Unknown message type; send one of: {', '.join(['ping', *self.handlers])}.",
            )
            return
        try:
            await getattr(self, method)(content)
        except ApplicationError as exc:
            metrics.socket_frame_rejections[(self.metrics_kind, frame_type, exc.code)] += 1
            await self.send_error(exc.code, exc.message, exc.extra.get("retry_after"))
        except Exception:
            logger.exception("handling a %s frame failed", frame_type)
            metrics.socket_frame_rejections[(self.metrics_kind, frame_type, "server_error")] += 1
            await self.send_error("server_error", "That did not work; try again in a moment.")
