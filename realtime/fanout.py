"""The realtime hot path: a room event travels from Redis to this process's sockets.

Cost model (what one event costs, whatever the room size):

* **Publish**: the publisher encodes the event to JSON once and sends one Redis
  ``PUBLISH`` per group (``realtime.events``). No per-viewer message exists anywhere.
* **Per server process**: one pub/sub connection, one ``SUBSCRIBE`` per group that
  has local sockets. Each event arrives once per process, is parsed once (for the
  few sockets that filter, e.g. overlays) and framed once: the RFC 6455 text frame
  (header + UTF-8 payload) is built one time and the same bytes go to every socket.
* **Per delivery** (``Outlet.deliver``): plain attribute checks and one
  ``transport.write`` of the shared frame bytes — no ``await``, no thread hop, no
  JSON encode, no channel-layer message, no consumer dispatch. This "direct" path is
  used when the ASGI server exposes its WebSocket protocol object (uvicorn's
  ``wsproto`` and ``websockets-sansio`` implementations). On any other server
  (Daphne, the test communicator) the portable path appends the text to the
  socket's own queue, drained by one writer task per socket through ASGI ``send``.
* **Joins**: the first local socket of a group waits for the ``SUBSCRIBE``
  confirmation (so nothing published afterwards is missed); later sockets of the
  group join without touching Redis. A group is unsubscribed ``LINGER_SECONDS``
  after its last local socket left, so churn does not flap subscriptions.

Bounded, per socket:

* Outbound bytes: ``MAX_BUFFER_BYTES`` in the server's write buffer (direct path,
  with the kernel send buffer pinned to ``SEND_BUFFER_BYTES``) or in the socket's
  queue (portable path, also ``MAX_BUFFER_FRAMES`` frames). A socket past the bound
  gets nothing more, is closed with 4429 (SPEC §7) — the close frame waits behind
  what it already has, and the connection is cut ``SLOW_CLOSE_GRACE`` seconds later
  if it still does not read — and is counted in ``stats["slow_closed"]``. One slow
  reader never delays the others or grows the server's memory.
* Frames that arrive while a socket is still sending its snapshot: at most
  ``MAX_PENDING_FRAMES``, flushed right after it (chat messages that the snapshot
  already holds are skipped by id).

Delivery is at most once: a process cut off from Redis reconnects and resubscribes,
and misses what was published meanwhile (clients catch up from the snapshot when
they reconnect).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import ssl
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote, urlparse

from django.conf import settings

from core.redis import key
from realtime.loops import PerLoop

logger = logging.getLogger(__name__)

MAX_BUFFER_BYTES = int(getattr(settings, "REALTIME_MAX_BUFFER_BYTES", 256 * 1024))
MAX_BUFFER_FRAMES = int(getattr(settings, "REALTIME_MAX_BUFFER_FRAMES", 1000))
MAX_PENDING_FRAMES = 1000
SEND_BUFFER_BYTES = int(getattr(settings, "REALTIME_SEND_BUFFER_BYTES", 128 * 1024))
SLOW_CLOSE_GRACE = 10.0
LINGER_SECONDS = 10.0
CLOSE_TOO_SLOW = 4429

# Counters of this process (exported with the other realtime metrics).
stats: dict[str, int] = {
    "events_received": 0,
    "deliveries": 0,
    "slow_closed": 0,
    "redis_reconnects": 0,
    # events committed but not published (Redis down after commit; realtime.events)
    "publish_failed": 0,
}

_DIRECT_PROTOCOLS = (
    "uvicorn.protocols.websockets.wsproto_impl",
    "uvicorn.protocols.websockets.websockets_sansio_impl",
)


def channel_name(group: str) -> str:
    """The Redis pub/sub channel of a group."""
    return key("rt", group)


def text_frame(payload: bytes) -> bytes:
    """An unmasked, unfragmented RFC 6455 text frame (server to client)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return b"\x81\x7e" + n.to_bytes(2, "big") + payload
    return b"\x81\x7f" + n.to_bytes(8, "big") + payload


class Message:
    """One event, encoded once: ``data`` (UTF-8 JSON), its frame, its text, its dict."""

    __slots__ = ("_event", "_frame", "_text", "data")

    def __init__(self, data: bytes, event: dict[str, Any] | None = None) -> None:
        self.data = data
        self._event = event
        self._frame: bytes | None = None
        self._text: str | None = None

    @classmethod
    def of(cls, event: dict[str, Any]) -> Message:
        return cls(encode(event), event)

    @property
    def event(self) -> dict[str, Any]:
        if self._event is None:
            self._event = json.loads(self.data)
        return self._event

    @property
    def frame(self) -> bytes:
        if self._frame is None:
            self._frame = text_frame(self.data)
        return self._frame

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = self.data.decode("utf-8")
        return self._text


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class Outlet:
    """The way out to one socket. ``deliver`` never awaits and never raises.

    Until ``open`` the socket is sending its snapshot: events wait in ``pending``.
    ``accepts(event) -> bool`` (optional) filters per socket; it costs a dict per
    event, so only low-volume sockets (overlays) use it.
    """

    __slots__ = (
        "_close_task",
        "_queue",
        "_queued_bytes",
        "_wakeup",
        "_writer",
        "accepts",
        "dead",
        "pending",
        "proto",
        "ready",
        "send",
        "transport",
    )

    def __init__(
        self,
        send: Callable[[dict[str, Any]], Any],
        *,
        accepts: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        self.send = send
        self.accepts = accepts
        self.ready = False
        self.dead = False
        self.pending: list[Message] | None = []
        self.proto: Any = None
        self.transport: Any = None
        self._queue: deque[str] = deque()
        self._queued_bytes = 0
        self._wakeup: asyncio.Event | None = None
        self._writer: asyncio.Task | None = None
        self._close_task: asyncio.Task | None = None

    # ----------------------------------------------------------------- set-up

    def bind(self) -> None:
        """After ``websocket.accept``: use the server's transport when it has one we
        know how to write to (see the module docstring), else the portable path."""
        proto = getattr(self.send, "__self__", None)
        if (
            getattr(settings, "REALTIME_DIRECT_WRITES", True)
            and proto is not None
            and type(proto).__module__ in _DIRECT_PROTOCOLS
            and getattr(proto, "handshake_complete", False)
            and getattr(proto, "transport", None) is not None
        ):
            self.proto = proto
            self.transport = proto.transport
            sock = self.transport.get_extra_info("socket")
            if sock is not None and SEND_BUFFER_BYTES > 0:
                # A fixed kernel buffer, so a reader that stops shows up in our bound
                # within seconds instead of after megabytes of kernel autotuning.
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        else:
            self._wakeup = asyncio.Event()

    def open(self, skip_chat_ids: Callable[[], set[Any]] | None = None) -> None:
        """The snapshot is out: flush what arrived meanwhile, then deliver live.

        ``skip_chat_ids`` (called only if a chat message is pending) gives the ids the
        snapshot already holds, so a message is never shown twice."""
        pending, self.pending = self.pending or [], None
        skip: set[Any] | None = None
        for message in pending:
            if message.event.get("type") == "chat.message" and skip_chat_ids is not None:
                if skip is None:
                    skip = skip_chat_ids()
                if message.event.get("id") in skip:
                    continue
            if self.accepts is not None and not self.accepts(message.event):
                continue
            self._deliver_now(message)
        self.ready = True

    # ----------------------------------------------------------------- delivery

    def deliver(self, message: Message) -> None:
        if self.dead:
            return
        if not self.ready:
            pending = self.pending
            if pending is not None:
                if len(pending) >= MAX_PENDING_FRAMES:
                    self.too_slow()
                else:
                    pending.append(message)
            return
        if self.accepts is not None and not self.accepts(message.event):
            return
        self._deliver_now(message)

    def _deliver_now(self, message: Message) -> None:
        transport = self.transport
        if transport is not None:
            if self.proto.close_sent or transport.is_closing():
                self.dead = True
                return
            if transport.get_write_buffer_size() > MAX_BUFFER_BYTES:
                self.too_slow()
                return
            transport.write(message.frame)
            stats["deliveries"] += 1
            return
        if self._wakeup is None:  # not bound yet (cannot happen after ``open``)
            return
        if len(self._queue) >= MAX_BUFFER_FRAMES or self._queued_bytes > MAX_BUFFER_BYTES:
            self.too_slow()
            return
        text = message.text
        self._queue.append(text)
        self._queued_bytes += len(text)
        stats["deliveries"] += 1
        if self._writer is None:
            self._writer = asyncio.ensure_future(self._drain())
        self._wakeup.set()

    async def drained(self, timeout: float = SLOW_CLOSE_GRACE) -> None:
        """Wait until a large frame just written (a recovered chat history) has mostly
        left, so it does not count against the slow-reader bound of the live events
        that follow; a reader that does not take it in ``timeout`` is too slow."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not self.dead:
            transport = self.transport
            size = (
                transport.get_write_buffer_size() if transport is not None else self._queued_bytes
            )
            if size <= MAX_BUFFER_BYTES // 2:
                return
            if asyncio.get_running_loop().time() > deadline:
                self.too_slow()
                return
            await asyncio.sleep(0.02)

    def send_message(self, message: Message) -> None:
        """A frame for this socket alone (snapshot, ``error``, ``pong``), in order
        with the room's events, whether or not the socket is ``open`` yet."""
        self._deliver_now(message)

    async def _drain(self) -> None:
        """Portable path: one writer per socket, through ASGI ``send``."""
        assert self._wakeup is not None
        try:
            while not self.dead:
                if not self._queue:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                text = self._queue.popleft()
                self._queued_bytes -= len(text)
                await self.send({"type": "websocket.send", "text": text})
        except asyncio.CancelledError:
            raise
        except Exception:  # the socket is gone; its app sees the disconnect
            self.dead = True

    async def flush(self, timeout: float = 5) -> None:
        """Portable path: write what is queued now (before a close frame)."""
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None
        try:
            async with asyncio.timeout(timeout):
                while self._queue and not self.dead:
                    text = self._queue.popleft()
                    self._queued_bytes -= len(text)
                    await self.send({"type": "websocket.send", "text": text})
        except Exception:  # noqa: S110 - gone or stuck: the close follows anyway
            pass

    # ----------------------------------------------------------------- closing

    def too_slow(self) -> None:
        """Stop delivering, close with 4429; cut the connection if it never reads."""
        if self.dead:
            return
        self.dead = True
        self.pending = None
        stats["slow_closed"] += 1
        self._queue.clear()
        self._queued_bytes = 0
        if self._writer is not None:
            self._writer.cancel()
        self._close_task = asyncio.ensure_future(self._close_slow())

    async def _close_slow(self) -> None:
        try:
            await asyncio.wait_for(
                self.send({"type": "websocket.close", "code": CLOSE_TOO_SLOW}), SLOW_CLOSE_GRACE
            )
            await asyncio.sleep(SLOW_CLOSE_GRACE)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: S110 - already closed or timed out: cut below
            pass
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()

    def release(self) -> None:
        """The socket ended: drop everything it holds (idempotent, never awaits)."""
        self.dead = True
        self.pending = None
        self._queue.clear()
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None


# --------------------------------------------------------------------------- Redis pub/sub


class _PubSubConnection:
    """A minimal RESP2 pub/sub connection: SUBSCRIBE/UNSUBSCRIBE out, pushes in.

    Kept small and explicit so the hub knows exactly when a subscription is
    confirmed (the order Redis guarantees on one connection)."""

    def __init__(self, url: str) -> None:
        self.url = urlparse(url)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        u = self.url
        ctx = ssl.create_default_context() if u.scheme == "rediss" else None
        if u.scheme == "unix":
            self.reader, self.writer = await asyncio.open_unix_connection(u.path)
        else:
            self.reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection(u.hostname or "127.0.0.1", u.port or 6379, ssl=ctx), 5
            )
        if u.password:
            args = (
                [unquote(u.username), unquote(u.password)] if u.username else [unquote(u.password)]
            )
            self.command("AUTH", *args)
            reply = await self.read()
            if isinstance(reply, Exception):
                raise reply

    def command(self, *args: str | bytes) -> None:
        assert self.writer is not None
        parts = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = arg.encode() if isinstance(arg, str) else arg
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self.writer.write(b"".join(parts))

    async def read(self) -> Any:
        assert self.reader is not None
        line = await self.reader.readuntil(b"\r\n")
        kind, rest = line[:1], line[1:-2]
        if kind == b"*":
            return [await self.read() for _ in range(int(rest))]
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = await self.reader.readexactly(n + 2)
            return data[:-2]
        if kind == b":":
            return int(rest)
        if kind == b"+":
            return rest
        if kind == b"-":
            return ConnectionError(rest.decode(errors="replace"))
        raise ConnectionError(f"unexpected reply from Redis: {line[:40]!r}")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class Hub:
    """This process's sockets by group, fed by one Redis pub/sub connection."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url or settings.REDIS_URL
        self.groups: dict[str, set[Outlet]] = {}
        # group → confirmation of its SUBSCRIBE (done once Redis confirmed it)
        self._subscribed: dict[str, asyncio.Future] = {}
        self._linger: dict[str, asyncio.TimerHandle] = {}
        self._listeners: list[Callable[[str, Message], None]] = []
        self._conn: _PubSubConnection | None = None
        self._connected = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._closed = False

    # ----------------------------------------------------------------- public API

    def add_listener(self, listener: Callable[[str, Message], None]) -> None:
        """Called once per event per process (not per socket), e.g. presence noting
        a ``stream.state``. Must not block or raise."""
        self._listeners.append(listener)

    async def attach(self, outlet: Outlet, groups: Iterable[str], *, timeout: float = 10) -> None:
        """Add the socket to ``groups``; returns once every group is subscribed."""
        self._start()
        waits = []
        for group in groups:
            self.groups.setdefault(group, set()).add(outlet)
            handle = self._linger.pop(group, None)
            if handle is not None:
                handle.cancel()
            fut = self._subscribed.get(group)
            if fut is None:
                fut = self._subscribed[group] = asyncio.get_running_loop().create_future()
                self._send_subscribe(group)
            if not fut.done():
                waits.append(fut)
        if waits:
            await asyncio.wait_for(asyncio.gather(*(asyncio.shield(w) for w in waits)), timeout)

    def detach(self, outlet: Outlet, groups: Iterable[str]) -> None:
        """Remove the socket (idempotent, never awaits: safe in any ``finally``)."""
        outlet.release()
        loop = None
        for group in groups:
            members = self.groups.get(group)
            if members is None:
                continue
            members.discard(outlet)
            if not members:
                del self.groups[group]
                if group not in self._linger and not self._closed:
                    loop = loop or asyncio.get_running_loop()
                    self._linger[group] = loop.call_later(LINGER_SECONDS, self._unsubscribe, group)

    def local_count(self, group: str) -> int:
        return len(self.groups.get(group, ()))

    async def close(self) -> None:
        self._closed = True
        for handle in self._linger.values():
            handle.cancel()
        self._linger.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        if self._conn is not None:
            self._conn.close()

    # ----------------------------------------------------------------- internals

    def _start(self) -> None:
        if self._task is None and not self._closed:
            self._task = asyncio.ensure_future(self._run())

    def _send_subscribe(self, group: str) -> None:
        if self._conn is not None and self._connected.is_set():
            self._conn.command("SUBSCRIBE", channel_name(group))
        # else: (re)connecting; _run subscribes every known group once connected

    def _unsubscribe(self, group: str) -> None:
        self._linger.pop(group, None)
        if self.groups.get(group):
            return
        fut = self._subscribed.pop(group, None)
        if fut is not None and not fut.done():
            fut.cancel()
        if self._conn is not None and self._connected.is_set():
            self._conn.command("UNSUBSCRIBE", channel_name(group))

    async def _run(self) -> None:
        prefix = channel_name("").encode()
        delay = 0.1
        while not self._closed:
            conn = _PubSubConnection(self.url)
            try:
                await conn.connect()
                self._conn = conn
                self._connected.set()
                for group in list(self._subscribed):
                    conn.command("SUBSCRIBE", channel_name(group))
                delay = 0.1
                while True:
                    reply = await conn.read()
                    if not isinstance(reply, list) or len(reply) < 3:
                        if isinstance(reply, Exception):
                            logger.warning("realtime pub/sub: %s", reply)
                        continue
                    kind = reply[0]
                    if kind == b"message":
                        group = reply[1][len(prefix) :].decode()
                        self._dispatch(group, Message(reply[2]))
                    elif kind == b"subscribe":
                        fut = self._subscribed.get(reply[1][len(prefix) :].decode())
                        if fut is not None and not fut.done():
                            fut.set_result(True)
            except asyncio.CancelledError:
                conn.close()
                raise
            except Exception as exc:
                stats["redis_reconnects"] += 1
                logger.warning("realtime pub/sub connection lost (%s); reconnecting", exc)
            finally:
                self._connected.clear()
                self._conn = None
                conn.close()
            if self._closed:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5)

    def _dispatch(self, group: str, message: Message) -> None:
        stats["events_received"] += 1
        for listener in self._listeners:
            try:
                listener(group, message)
            except Exception:
                logger.exception("realtime listener failed")
        outlets = self.groups.get(group)
        if not outlets:
            return
        for outlet in tuple(outlets):
            try:
                outlet.deliver(message)
            except Exception:  # one broken socket must not stop the others
                logger.exception("realtime delivery failed")
                outlet.too_slow()


_hubs: PerLoop[Hub] = PerLoop(Hub)


def get_hub() -> Hub:
    """The hub of the running event loop (a server process runs one loop)."""
    return _hubs.get()


async def close_hub() -> None:
    """Shut down this loop's hub (tests; a server process just exits)."""
    hub = _hubs.pop()
    if hub is not None:
        await hub.close()
