"""What a socket gets on join — the public stream and the last visible chat messages —
kept in Redis, so a join is one Redis round trip and no database work.

Keys (under ``core.redis.key("snap", sid, ...)``), all expiring after ``TTL_SECONDS``:

* ``stream``: the public stream payload (JSON text, ``viewer_count`` filled per join),
  or ``null`` for a stream that does not exist.
* ``chat``: a sorted set of the last visible messages (JSON text), scored by message
  id, so out-of-order publishes still read oldest first. A refill loads the last
  ``HISTORY_SIZE`` (50); appends grow it up to ``RECOVERY_SIZE`` (500). A join reads
  the last 50; a reconnect with ``since`` reads every message after its id when the
  set vouches for completeness (SPEC §7 chat recovery): it reaches back to ``since``,
  or it holds every visible message of the stream — marked by the member ``ALL``
  (score 0), which the first trim removes, exactly when that stops being true.
* ``ver``: bumped by every change; a refill from the database is written only if no
  change happened since it started reading, so a refill never overwrites a newer
  message with an older view.

Every change goes through the publisher (``realtime.events``), in one pipeline
*before* the ``PUBLISH``: store (the transaction committed), then cache, then
broadcast. ``chat.message`` appends; ``viewers`` changes nothing (the count is live);
any other room event (deletion, ban, settings, state, donation) invalidates, and the
next join refills. Writes that publish nothing call ``invalidate``. The TTL bounds
what could still go stale (a user's level in old messages, ``max_viewers``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from core.redis import get_async_redis, get_redis, key
from realtime.loops import PerLoop

HISTORY_SIZE = 50
RECOVERY_SIZE = 500
ALL = "*all*"  # chat-set member: the set holds every visible message of the stream
TTL_SECONDS = 30
MISSING_TTL_SECONDS = 5
VERSION_TTL_SECONDS = 24 * 3600

Loader = Callable[[int], Awaitable[tuple[dict[str, Any] | None, list[dict[str, Any]]]]]


def _keys(sid: int) -> list[str]:
    return [key("snap", sid, "ver"), key("snap", sid, "stream"), key("snap", sid, "chat")]


# KEYS: ver, stream, chat   ARGV: id, item, size, version_ttl
_APPEND = """
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[4])
local ttl = redis.call('PTTL', KEYS[2])
if ttl > 0 then
  redis.call('ZADD', KEYS[3], ARGV[1], ARGV[2])
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -tonumber(ARGV[3]) - 1)
  redis.call('PEXPIRE', KEYS[3], ttl)
end
return 1
"""

# KEYS: ver, stream, chat   ARGV: version_ttl
_INVALIDATE = """
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2], KEYS[3])
return 1
"""

# KEYS: ver, stream, chat   ARGV: expected_ver, ttl_ms, stream_json, id1, item1, ...
_REFILL = """
if (redis.call('GET', KEYS[1]) or '0') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[3])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
for i = 4, #ARGV, 2 do redis.call('ZADD', KEYS[3], ARGV[i], ARGV[i + 1]) end
if #ARGV >= 4 then redis.call('PEXPIRE', KEYS[3], ARGV[2]) end
return 1
"""


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def item_text(message: dict[str, Any]) -> str:
    """A chat message as the snapshot stores and sends it."""
    return _dumps(message)


def room_id(group: str) -> int | None:
    """The stream id of a viewers' room group (``stream.{id}``), else ``None``."""
    if group.startswith("stream."):
        rest = group[7:]
        if rest.isdigit():
            return int(rest)
    return None


# --------------------------------------------------------------------------- writers


def queue_update(pipe: Any, sid: int, event: dict[str, Any]) -> None:
    """Add the cache update that ``event`` (about to be published to room ``sid``)
    implies to a sync Redis pipeline, ahead of its ``PUBLISH``."""
    kind = event.get("type")
    if kind == "viewers":
        return
    if kind == "chat.message":
        item = {k: event[k] for k in ("id", "user", "text", "created_at") if k in event}
        pipe.eval(
            _APPEND, 3, *_keys(sid), item["id"], _dumps(item), RECOVERY_SIZE, VERSION_TTL_SECONDS
        )
        return
    pipe.eval(_INVALIDATE, 3, *_keys(sid), VERSION_TTL_SECONDS)


def invalidate(stream_ids: list[int]) -> None:
    """Drop the cached snapshots of these streams (a change that broadcasts nothing)."""
    if not stream_ids:
        return
    pipe = get_redis().pipeline(transaction=False)
    for sid in stream_ids:
        pipe.eval(_INVALIDATE, 3, *_keys(sid), VERSION_TTL_SECONDS)
    pipe.execute()


# --------------------------------------------------------------------------- reader

_clients: PerLoop[Any] = PerLoop(get_async_redis)
# In-flight database loads of this loop, by (stream id, snapshot version).
_loads: PerLoop[dict[tuple[int, Any], asyncio.Future]] = PerLoop(dict)


class Snapshot:
    """A room's join snapshot. ``history_items`` are JSON texts, oldest first (the last
    ``HISTORY_SIZE`` messages). For a join with ``since``: ``recovered_items`` are
    exactly the messages after it, or ``None`` when they cannot be vouched for."""

    __slots__ = ("history_items", "recovered_items", "since", "stream")

    def __init__(self, stream: dict[str, Any], history_items: list[str]) -> None:
        self.stream = stream
        self.history_items = history_items
        self.since: int | None = None
        self.recovered_items: list[str] | None = None

    def _sent_items(self) -> list[str]:
        return self.history_items if self.recovered_items is None else self.recovered_items

    def history_frame(self) -> bytes:
        """``chat.history {messages}`` built from the cached texts (no re-encode); with
        ``recovered`` when the join asked for ``since`` (SPEC §7 chat recovery)."""
        flag = b""
        if self.since is not None:
            flag = b',"recovered":' + (b"false" if self.recovered_items is None else b"true")
        return (
            b'{"type":"chat.history","messages":['
            + ",".join(self._sent_items()).encode("utf-8")
            + b"]"
            + flag
            + b"}"
        )

    def history_ids(self) -> set[Any]:
        return {json.loads(item)["id"] for item in self._sent_items()}


def _recover(
    items: list[tuple[int, str]], oldest: int | None, holds_all: bool, since: int
) -> list[str] | None:
    """The messages after ``since`` (``items``: the cached ``(id, text)`` from
    ``since`` on), or ``None`` when the set cannot vouch that none is missing: it holds
    every visible message, or its oldest reaches back to ``since`` itself."""
    if holds_all or (oldest is not None and oldest <= since):
        return [text for mid, text in items if mid > since]
    return None


def _without_marker(items: list[str]) -> list[str]:
    return items[1:] if items and items[0] == ALL else items


async def room_snapshot(sid: int, loader: Loader, since: int | None = None) -> Snapshot | None:
    """The snapshot of stream ``sid`` (``None``: no such stream): one Redis round
    trip when cached; otherwise ``loader`` (database) and a refill. With ``since``,
    ``recovered_items`` are exactly the messages after it, or ``None`` when the set
    cannot vouch (the caller may still try the database)."""
    client = _clients.get()
    ver_key, stream_key, chat_key = _keys(sid)
    pipe = client.pipeline(transaction=False)
    pipe.get(ver_key)
    pipe.get(stream_key)
    pipe.zrange(chat_key, -HISTORY_SIZE, -1)
    if since is not None:
        pipe.zrangebyscore(chat_key, since, "+inf", withscores=True)
        pipe.zrange(chat_key, 0, 1, withscores=True)
    replies = await pipe.execute()
    version, stream_text, items = replies[:3]
    if stream_text is not None:
        if stream_text == "null":
            return None
        snap = Snapshot(json.loads(stream_text), _without_marker(list(items)))
        if since is not None:
            snap.since = since
            after = [(int(score), text) for text, score in replies[3]]
            first = replies[4]
            holds_all = bool(first) and first[0][0] == ALL
            real = [int(score) for member, score in first if member != ALL]
            snap.recovered_items = _recover(after, real[0] if real else None, holds_all, since)
        return snap
    loaded = await _shared_load(client, sid, version, loader)
    if loaded is None:
        return None
    stream, ids, texts, holds_all = loaded
    snap = Snapshot(stream, texts[-HISTORY_SIZE:])
    if since is not None:
        snap.since = since
        start = next((i for i, mid in enumerate(ids) if mid >= since), len(ids))
        after = list(zip(ids[start:], texts[start:], strict=True))
        snap.recovered_items = _recover(after, ids[0] if ids else None, holds_all, since)
    return snap


async def _shared_load(
    client: Any, sid: int, version: Any, loader: Loader
) -> tuple[dict[str, Any], list[int], list[str], bool] | None:
    """A miss: one database load per process, room and version, however many sockets
    (or HTTP reads) want it meanwhile (a reconnect storm would otherwise load it once
    per socket). Only a load that started at the version the caller read (a socket:
    after it subscribed) is shared: any change since then bumped the version, so
    nothing can fall between."""
    loads = _loads.get()
    load_key = (sid, version)
    future = loads.get(load_key)
    if future is None:
        future = loads[load_key] = asyncio.ensure_future(
            _load_and_refill(client, sid, version, loader)
        )
        future.add_done_callback(lambda _: loads.pop(load_key, None))
    return await asyncio.shield(future)


async def stream_payload(
    sid: int, loader: Loader, *, also: Callable[[Any], None] | None = None
) -> tuple[dict[str, Any] | None, list[Any]]:
    """The public stream of the snapshot alone, for HTTP reads (``None``: no such
    stream), plus the replies of the reads ``also`` queued on the same pipeline (e.g.
    the viewer count): one Redis round trip when cached; on a miss the same shared
    load and refill as a join (which also caches the chat history for the next join)."""
    client = _clients.get()
    ver_key, stream_key, _ = _keys(sid)
    pipe = client.pipeline(transaction=False)
    pipe.get(ver_key)
    pipe.get(stream_key)
    if also is not None:
        also(pipe)
    replies = await pipe.execute()
    version, stream_text = replies[:2]
    if stream_text is not None:
        return (None if stream_text == "null" else json.loads(stream_text)), replies[2:]
    loaded = await _shared_load(client, sid, version, loader)
    return (None if loaded is None else loaded[0]), replies[2:]


SyncLoader = Callable[[int], tuple[dict[str, Any] | None, list[dict[str, Any]]]]


def stream_payload_sync(
    sid: int, loader: SyncLoader, *, also: Callable[[Any], None] | None = None
) -> tuple[dict[str, Any] | None, list[Any]]:
    """``stream_payload`` for sync callers (a request already on a thread): the same
    keys and refill, without the per-loop sharing of loads."""
    client = get_redis()
    ver_key, stream_key, chat_key = _keys(sid)
    pipe = client.pipeline(transaction=False)
    pipe.get(ver_key)
    pipe.get(stream_key)
    if also is not None:
        also(pipe)
    replies = pipe.execute()
    version, stream_text = replies[:2]
    if stream_text is not None:
        return (None if stream_text == "null" else json.loads(stream_text)), replies[2:]
    stream, history = loader(sid)
    client.eval(_REFILL, 3, ver_key, stream_key, chat_key, *_refill_args(version, stream, history))
    return stream, replies[2:]


def _refill_args(
    version: Any, stream: dict[str, Any] | None, history: list[dict[str, Any]]
) -> list[Any]:
    """``_REFILL``'s ARGV: the expected version, the TTL, the stream and the messages
    (``loader`` gives up to ``HISTORY_SIZE + 1``: fewer means they are all the stream
    has, and the set is marked ``ALL``)."""
    args: list[Any] = [version or "0"]
    if stream is None:
        return [*args, MISSING_TTL_SECONDS * 1000, "null"]
    args += [TTL_SECONDS * 1000, _dumps(stream)]
    if len(history) <= HISTORY_SIZE:
        args += [0, ALL]
    for message in history[-HISTORY_SIZE:]:
        args += [message["id"], _dumps(message)]
    return args


async def _load_and_refill(
    client: Any, sid: int, version: Any, loader: Loader
) -> tuple[dict[str, Any], list[int], list[str], bool] | None:
    """``loader`` gives up to ``HISTORY_SIZE + 1`` messages: fewer than that means
    they are all the stream has (the set is marked ``ALL``)."""
    ver_key, stream_key, chat_key = _keys(sid)
    stream, history = await loader(sid)
    holds_all = len(history) <= HISTORY_SIZE
    history = history[-HISTORY_SIZE:]
    history_items = [_dumps(m) for m in history]
    args: list[Any] = [version or "0"]
    if stream is None:
        args += [MISSING_TTL_SECONDS * 1000, "null"]
    else:
        args += [TTL_SECONDS * 1000, _dumps(stream)]
        if holds_all:
            args += [0, ALL]
        for message, text in zip(history, history_items, strict=True):
            args += [message["id"], text]
    await client.eval(_REFILL, 3, ver_key, stream_key, chat_key, *args)
    if stream is None:
        return None
    return stream, [m["id"] for m in history], history_items, holds_all


async def close_clients() -> None:
    client = _clients.pop()
    if client is not None:
        await client.aclose()
