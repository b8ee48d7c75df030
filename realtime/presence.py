"""Viewer presence: distinct viewers per stream across every server process.

Model (all in Redis, every key under ``core.redis.key("presence", ...)``):

* ``room:{sid}:users``   HASH user id → open sockets of that user (all processes)
* ``room:{sid}:anon``    anonymous sockets (all processes)
* ``room:{sid}:proc:{token}`` HASH ``u:{uid}`` / ``a`` → sockets *this process* holds
* ``proc:{token}``       the process heartbeat, a key that expires after
  ``PROCESS_TTL`` seconds unless refreshed every ``HEARTBEAT_INTERVAL`` seconds
* ``proc:{token}:rooms`` the rooms a process holds sockets in; ``procs`` all processes
* ``room:{sid}:peak``    the highest count seen while the stream was live
* ``room:{sid}:sent`` / ``:throttle`` the last ``viewers`` payload broadcast, and a
  1-second token that keeps broadcasts to at most one per second per room

The count is ``HLEN users + anon``: a user with three tabs is one hash field, each
anonymous socket counts once. Every join/leave is one atomic Lua call. A process
that dies without cleanup stops refreshing its heartbeat; any live process (every
``HEARTBEAT_INTERVAL`` s) or the ``persist_viewer_peaks`` beat task notices the
missing heartbeat and subtracts that process's per-room hashes from the totals
atomically ("reaping"). Worst case: ``PROCESS_TTL + HEARTBEAT_INTERVAL`` (13 s).

A process that was reaped while still alive (its loop stalled longer than the TTL)
finds its heartbeat gone and re-registers its sockets from its in-memory truth.

Local first, so nothing can leak: a socket's ``Registration`` changes this process's
in-memory counts synchronously (``release`` never awaits, so it runs in any
``finally``, even in a cancelled task), and marks the member dirty. One background
task writes the dirty members' *absolute* counts to Redis — one Lua call per dirty
room per round, however many sockets joined or left meanwhile (a reconnect storm
costs a few calls per second, not one per socket) — and answers the joins waiting
for their room's count. A failed write is retried; since the values are absolute,
a retry or a late write can never double count.

``viewers {count, peak}`` is broadcast by whichever process saw a change, after an
atomic check of the room's throttle token and of the last payload sent, so every
room gets at most one per second, only when it changed, and within ~1 s of a change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import redis
from django.conf import settings

from core.redis import get_async_redis, get_redis, key
from realtime import event_types, fanout, groups
from realtime.events import send_event
from realtime.loops import PerLoop

logger = logging.getLogger(__name__)

PROCESS_TTL = int(getattr(settings, "PRESENCE_PROCESS_TTL_SECONDS", 10))
HEARTBEAT_INTERVAL = float(getattr(settings, "PRESENCE_HEARTBEAT_SECONDS", 3))
BROADCAST_INTERVAL_MS = 1100  # 1 s plus slack for delivery jitter between processes
PEAK_TTL = 7 * 24 * 3600
SENT_TTL = 24 * 3600

ANON = "a"


def user_member(user_id: int) -> str:
    return f"u:{user_id}"


# --------------------------------------------------------------------------- keys


def _room(sid: int, *rest: object) -> str:
    return key("presence", "room", sid, *rest)


def _proc(token: str, *rest: object) -> str:
    return key("presence", "proc", token, *rest)


def _procs() -> str:
    return key("presence", "procs")


# --------------------------------------------------------------------------- scripts

# Set this process's socket counts of some members of one room (absolute values,
# so replaying a sync is harmless) and return the room's count.
# KEYS: hb, proc_room, proc_rooms, users, anon, peak
# ARGV: sid, live, peak_ttl, member1, count1, member2, count2, ...
# Returns the room's count, or -1 when this process is not registered (reaped).
_SET_MEMBERS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
for i = 4, #ARGV, 2 do
  local member, c = ARGV[i], tonumber(ARGV[i + 1])
  local d = c - tonumber(redis.call('HGET', KEYS[2], member) or '0')
  if d ~= 0 then
    if c > 0 then
      redis.call('HSET', KEYS[2], member, c)
    else
      redis.call('HDEL', KEYS[2], member)
    end
    if member == 'a' then
      if redis.call('INCRBY', KEYS[5], d) <= 0 then redis.call('DEL', KEYS[5]) end
    else
      local uid = string.sub(member, 3)
      if redis.call('HINCRBY', KEYS[4], uid, d) <= 0 then redis.call('HDEL', KEYS[4], uid) end
    end
  end
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('SADD', KEYS[3], ARGV[1])
else
  redis.call('SREM', KEYS[3], ARGV[1])
end
local count = redis.call('HLEN', KEYS[4]) + tonumber(redis.call('GET', KEYS[5]) or '0')
if ARGV[2] == '1' then
  local peak = tonumber(redis.call('GET', KEYS[6]) or '0')
  if count > peak then redis.call('SET', KEYS[6], count, 'EX', ARGV[3]) end
end
return count
"""

# Replace this process's contribution to one room with the given truth.
# KEYS: hb, proc_room, proc_rooms, users, anon
# ARGV: sid, member1, count1, member2, count2, ...
_SYNC_ROOM = """
local old = redis.call('HGETALL', KEYS[2])
for i = 1, #old, 2 do
  local member, c = old[i], tonumber(old[i + 1])
  if member == 'a' then
    if redis.call('INCRBY', KEYS[5], -c) <= 0 then redis.call('DEL', KEYS[5]) end
  else
    local uid = string.sub(member, 3)
    if redis.call('HINCRBY', KEYS[4], uid, -c) <= 0 then redis.call('HDEL', KEYS[4], uid) end
  end
end
redis.call('DEL', KEYS[2])
for i = 2, #ARGV, 2 do
  local member, c = ARGV[i], tonumber(ARGV[i + 1])
  if c > 0 then
    redis.call('HSET', KEYS[2], member, c)
    if member == 'a' then
      redis.call('INCRBY', KEYS[5], c)
    else
      redis.call('HINCRBY', KEYS[4], string.sub(member, 3), c)
    end
  end
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('SADD', KEYS[3], ARGV[1])
else
  redis.call('SREM', KEYS[3], ARGV[1])
end
return 1
"""

# KEYS: hb, procs   ARGV: ttl, token   Returns 1 if the heartbeat was still there.
_HEARTBEAT = """
local existed = redis.call('EXISTS', KEYS[1])
redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
return existed
"""

# Subtract a dead process's sockets from every room it held. No-op while its
# heartbeat exists. KEYS: hb, proc_rooms, procs   ARGV: token, presence prefix
# Returns the stream ids whose count changed.
_REAP = """
if redis.call('EXISTS', KEYS[1]) == 1 then return {} end
local sids = redis.call('SMEMBERS', KEYS[2])
for _, sid in ipairs(sids) do
  local base = ARGV[2] .. ':room:' .. sid
  local pr = base .. ':proc:' .. ARGV[1]
  local all = redis.call('HGETALL', pr)
  for i = 1, #all, 2 do
    local member, c = all[i], tonumber(all[i + 1])
    if member == 'a' then
      if redis.call('INCRBY', base .. ':anon', -c) <= 0 then redis.call('DEL', base .. ':anon') end
    else
      local uid = string.sub(member, 3)
      if redis.call('HINCRBY', base .. ':users', uid, -c) <= 0 then
        redis.call('HDEL', base .. ':users', uid)
      end
    end
  end
  redis.call('DEL', pr)
end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
return sids
"""

# KEYS: users, anon, peak, sent, throttle   ARGV: live, peak_ttl, throttle_ms, sent_ttl
# Returns {state, wait_ms, count, peak}: state 0 unchanged, 1 wait, 2 send now.
_FLUSH = """
local count = redis.call('HLEN', KEYS[1]) + tonumber(redis.call('GET', KEYS[2]) or '0')
local peak = tonumber(redis.call('GET', KEYS[3]) or '0')
if ARGV[1] == '1' and count > peak then
  peak = count
  redis.call('SET', KEYS[3], count, 'EX', ARGV[2])
end
local payload = count .. ':' .. peak
if redis.call('GET', KEYS[4]) == payload then return {0, 0, count, peak} end
local wait = redis.call('PTTL', KEYS[5])
if wait > 0 then return {1, wait, count, peak} end
redis.call('SET', KEYS[5], '1', 'PX', ARGV[3])
redis.call('SET', KEYS[4], payload, 'EX', ARGV[4])
return {2, 0, count, peak}
"""


# --------------------------------------------------------------------------- selectors


def viewer_count(stream_id: int) -> int:
    """Distinct viewers of a stream right now, across all server processes."""
    return viewer_counts([stream_id])[stream_id]


def queue_viewer_count(pipe: Any, stream_id: int) -> None:
    """Queue the two reads of ``viewer_count`` on a (sync or async) pipeline that does
    other reads too; ``count_from`` turns their two replies into the count."""
    pipe.hlen(_room(stream_id, "users"))
    pipe.get(_room(stream_id, "anon"))


def count_from(users: Any, anon: Any) -> int:
    return int(users or 0) + max(int(anon or 0), 0)


def viewer_counts(stream_ids: list[int]) -> dict[int, int]:
    """``viewer_count`` for many streams in one Redis round trip.

    Read for API answers and event payloads: with Redis unreachable the counts read 0
    (logged) rather than failing a request whose change is already committed."""
    if not stream_ids:
        return {}
    pipe = get_redis().pipeline(transaction=False)
    for sid in stream_ids:
        pipe.hlen(_room(sid, "users"))
        pipe.get(_room(sid, "anon"))
    try:
        replies = pipe.execute()
    except redis.RedisError as exc:
        logger.warning("viewer counts unavailable (%s); reporting 0", type(exc).__name__)
        return dict.fromkeys(stream_ids, 0)
    return {
        sid: int(replies[2 * i]) + max(int(replies[2 * i + 1] or 0), 0)
        for i, sid in enumerate(stream_ids)
    }


def viewer_peak(stream_id: int) -> int:
    """The peak count recorded in Redis while the stream was live (0 if none)."""
    return int(get_redis().get(_room(stream_id, "peak")) or 0)


def forget_viewer_peak(stream_id: int, *, keep_seconds: int = 3600) -> None:
    """Let the Redis peak of a settled stream expire (it is persisted by then)."""
    get_redis().expire(_room(stream_id, "peak"), keep_seconds)


def reap_dead_processes() -> list[int]:
    """Drop the sockets of processes whose heartbeat expired; return affected streams.

    Safe to run anywhere, any number of times (the script re-checks the heartbeat).
    """
    r = get_redis()
    reap = r.register_script(_REAP)
    changed: list[int] = []
    for token in r.smembers(_procs()):
        if r.exists(_proc(token)):
            continue
        sids = reap(
            keys=[_proc(token), _proc(token, "rooms"), _procs()], args=[token, key("presence")]
        )
        changed += [int(s) for s in sids]
    return changed


# --------------------------------------------------------------------------- the per-process hub


@dataclass
class _Room:
    members: Counter = field(default_factory=Counter)
    live: bool | None = None


class Registration:
    """One socket counted in one room. ``release`` is idempotent and never awaits."""

    __slots__ = ("_hub", "member", "released", "stream_id")

    def __init__(self, hub: PresenceHub, stream_id: int, member: str) -> None:
        self._hub = hub
        self.stream_id = stream_id
        self.member = member
        self.released = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self._hub._remove(self.stream_id, self.member)


class PresenceHub:
    """This process's sockets, mirrored into Redis; one per event loop."""

    def __init__(self) -> None:
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.redis = get_async_redis()
        self.rooms: dict[int, _Room] = {}
        self.pending: set[int] = set()
        self._dirty: dict[int, set[str]] = {}
        self._waiters: dict[int, list[asyncio.Future]] = {}
        self._counts: dict[int, int] = {}
        self._inflight: set[int] = set()
        self._lock = asyncio.Lock()
        self._wakeup = asyncio.Event()
        self._sync_wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._registered = False
        self._starter: asyncio.Future | None = None
        self._closed = False
        self._set_members = self.redis.register_script(_SET_MEMBERS)
        self._sync_room = self.redis.register_script(_SYNC_ROOM)
        self._heartbeat = self.redis.register_script(_HEARTBEAT)
        self._reap = self.redis.register_script(_REAP)
        self._flush = self.redis.register_script(_FLUSH)

    # ----------------------------------------------------------------- public API

    def register(self, stream_id: int, member: str, *, live: bool | None = None) -> Registration:
        """Count one more socket of ``member`` now (in memory); Redis follows."""
        room = self.rooms.get(stream_id)
        if room is None:
            room = self.rooms[stream_id] = _Room()
        if room.live is None and live is not None:
            room.live = live
        room.members[member] += 1
        self._dirty_member(stream_id, member)
        return Registration(self, stream_id, member)

    async def count(self, stream_id: int, *, timeout: float = 5) -> int:
        """The room's count across all processes, once every change this process made
        so far is in Redis."""
        await self._ensure_started()
        if stream_id not in self._dirty and stream_id not in self._inflight:
            return await self._read_count(stream_id)
        self._dirty.setdefault(stream_id, set())  # a round after the one in flight
        self._sync_wakeup.set()
        fut = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(stream_id, []).append(fut)
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            logger.warning("presence: Redis did not answer in %ss; count may lag", timeout)
            return self._local_estimate(stream_id)

    async def _read_count(self, stream_id: int) -> int:
        pipe = self.redis.pipeline(transaction=False)
        pipe.hlen(_room(stream_id, "users"))
        pipe.get(_room(stream_id, "anon"))
        users, anon = await pipe.execute()
        return int(users) + max(int(anon or 0), 0)

    async def join(self, stream_id: int, member: str, *, live: bool | None = None) -> int:
        """``register`` and wait for the room's count (tests and simple callers)."""
        self.register(stream_id, member, live=live)
        return await self.count(stream_id)

    async def leave(self, stream_id: int, member: str) -> None:
        room = self.rooms.get(stream_id)
        if room is None or room.members[member] <= 0:
            return
        self._remove(stream_id, member)
        await self.count(stream_id)

    def note_status(self, stream_id: int, status: str | None) -> None:
        """A ``stream.state`` passed by: peaks are tracked only while live."""
        room = self.rooms.get(stream_id)
        if room is None:
            return
        live = status == "live"
        if room.live != live:
            room.live = live
            self._mark(stream_id)

    def on_event(self, group: str, message: fanout.Message) -> None:
        """Hub listener: once per event per process, note a room's ``stream.state``."""
        if not group.startswith("stream.") or b'"stream.state"' not in message.data[:40]:
            return
        sid = int(group[7:]) if group[7:].isdigit() else None
        if sid is not None and sid in self.rooms:
            self.note_status(sid, (message.event.get("stream") or {}).get("status"))

    async def close(self) -> None:
        """Stop background work and remove this process's sockets at once."""
        self._closed = True
        if self._starter is not None:
            self._starter.cancel()
        self._wakeup.set()
        self._sync_wakeup.set()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        self._tasks = []
        for waiters in self._waiters.values():
            for fut in waiters:
                if not fut.done():
                    fut.cancel()
        self._waiters.clear()
        with contextlib.suppress(Exception):
            await self.redis.delete(_proc(self.token))
            await self._reap(
                keys=[_proc(self.token), _proc(self.token, "rooms"), _procs()],
                args=[self.token, key("presence")],
            )
        with contextlib.suppress(Exception):
            await self.redis.aclose()

    # ----------------------------------------------------------------- internals

    def _remove(self, stream_id: int, member: str) -> None:
        room = self.rooms.get(stream_id)
        if room is None or room.members[member] <= 0:
            return
        room.members[member] -= 1
        if room.members[member] <= 0:
            del room.members[member]
        if not room.members:
            self.rooms.pop(stream_id, None)
        self._dirty_member(stream_id, member)

    def _dirty_member(self, stream_id: int, member: str) -> None:
        self._dirty.setdefault(stream_id, set()).add(member)
        self._sync_wakeup.set()
        if not self._registered and self._starter is None and not self._closed:
            self._starter = asyncio.ensure_future(self._ensure_started())

    def _local_estimate(self, stream_id: int) -> int:
        room = self.rooms.get(stream_id)
        if room is None:
            return self._counts.get(stream_id, 0)
        anonymous = room.members.get(ANON, 0)
        local = len(room.members) - (1 if anonymous else 0) + anonymous
        return max(self._counts.get(stream_id, 0), local)

    async def _ensure_started(self) -> None:
        if self._registered or self._closed:
            return
        async with self._lock:
            if not self._registered:
                await self._heartbeat(
                    keys=[_proc(self.token), _procs()], args=[PROCESS_TTL, self.token]
                )
                self._registered = True
                self._tasks = [
                    asyncio.ensure_future(
                        self._forever(self._keepalive_round, "heartbeat", HEARTBEAT_INTERVAL)
                    ),
                    asyncio.ensure_future(self._forever(self._flush_round, "flush", 1)),
                    asyncio.ensure_future(self._forever(self._sync_round, "sync", 0.5)),
                ]
                fanout.get_hub().add_listener(self.on_event)

    def _room_keys(self, stream_id: int) -> list[str]:
        return [
            _proc(self.token),
            _room(stream_id, "proc", self.token),
            _proc(self.token, "rooms"),
            _room(stream_id, "users"),
            _room(stream_id, "anon"),
            _room(stream_id, "peak"),
        ]

    async def _forever(self, step: Any, what: str, retry_after: float) -> None:
        """Run ``step`` until the hub closes; a failure is logged, then retried."""
        while not self._closed:
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception:
                if self._closed:
                    return
                logger.exception("presence %s failed; retrying", what)
                await asyncio.sleep(retry_after)

    async def _sync_round(self) -> None:
        """Write dirty members' absolute counts, one Lua call per dirty room, and
        answer the joins waiting for those rooms."""
        if not self._dirty:
            self._sync_wakeup.clear()
            await self._sync_wakeup.wait()
            return
        dirty, self._dirty = self._dirty, {}
        waiters, self._waiters = self._waiters, {}
        self._inflight = set(dirty)
        try:
            async with self._lock:
                for sid, members in dirty.items():
                    count = self._counts[sid] = await self._write_room(sid, members)
                    self._mark(sid)
                    _resolve(waiters.pop(sid, ()), count)
        except BaseException:
            # Put back what was not written (values are absolute: rewriting is safe).
            for sid, members in dirty.items():
                self._dirty.setdefault(sid, set()).update(members)
            for sid, futs in waiters.items():
                self._waiters.setdefault(sid, []).extend(futs)
            raise
        finally:
            self._inflight = set()
        for sid, futs in waiters.items():  # asked for rooms that had nothing to write
            _resolve(futs, self._counts.get(sid, 0))

    async def _write_room(self, sid: int, members: set[str]) -> int:
        """Caller holds ``self._lock``."""
        room = self.rooms.get(sid)
        live = "1" if room is not None and room.live else "0"
        args: list[Any] = [sid, live, PEAK_TTL]
        for member in members:
            args += [member, room.members.get(member, 0) if room is not None else 0]
        count = await self._set_members(keys=self._room_keys(sid), args=args)
        if count == -1:
            # Our heartbeat expired and we may have been reaped: the local state is
            # the truth; write all of it back (this change included).
            await self._resync()
            count = await self._set_members(keys=self._room_keys(sid), args=args)
        return int(count)

    async def _resync(self) -> None:
        """Caller holds ``self._lock``."""
        await self._heartbeat(keys=[_proc(self.token), _procs()], args=[PROCESS_TTL, self.token])
        for sid, room in list(self.rooms.items()):
            args: list[Any] = [sid]
            for member, n in room.members.items():
                args += [member, n]
            await self._sync_room(keys=self._room_keys(sid)[:5], args=args)
            self._mark(sid)

    def _mark(self, stream_id: int) -> None:
        self.pending.add(stream_id)
        self._wakeup.set()

    async def _keepalive_round(self) -> None:
        async with self._lock:
            existed = await self._heartbeat(
                keys=[_proc(self.token), _procs()], args=[PROCESS_TTL, self.token]
            )
            if not existed:
                await self._resync()
        await self._reap_others()
        await asyncio.sleep(HEARTBEAT_INTERVAL)

    async def _reap_others(self) -> None:
        tokens = [t for t in await self.redis.smembers(_procs()) if t != self.token]
        if not tokens:
            return
        alive = await asyncio.gather(*(self.redis.exists(_proc(t)) for t in tokens))
        for token, is_alive in zip(tokens, alive, strict=True):
            if is_alive:
                continue
            sids = await self._reap(
                keys=[_proc(token), _proc(token, "rooms"), _procs()],
                args=[token, key("presence")],
            )
            if sids:
                logger.info("reaped dead process %s from %d rooms", token, len(sids))
            for sid in sids:
                self._mark(int(sid))

    async def _flush_round(self) -> None:
        """Broadcast ``viewers`` for the rooms that changed (throttled in Redis)."""
        if not self.pending:
            self._wakeup.clear()
            await self._wakeup.wait()
        delay = BROADCAST_INTERVAL_MS / 1000
        for sid in list(self.pending):
            room = self.rooms.get(sid)
            live = "1" if room is not None and room.live else "0"
            state, wait_ms, count, peak = await self._flush(
                keys=[
                    _room(sid, "users"),
                    _room(sid, "anon"),
                    _room(sid, "peak"),
                    _room(sid, "sent"),
                    _room(sid, "throttle"),
                ],
                args=[live, PEAK_TTL, BROADCAST_INTERVAL_MS, SENT_TTL],
            )
            if state == 1:
                delay = min(delay, max(int(wait_ms), 20) / 1000)
                continue
            self.pending.discard(sid)
            if state == 2:
                event = event_types.viewers(int(count), int(peak))
                await send_event(groups.stream_room(sid), event, redis=self.redis)
                await send_event(groups.stream_dashboard(sid), event, redis=self.redis)
        if self.pending:
            await asyncio.sleep(delay)


def _resolve(futures: Any, count: int) -> None:
    for fut in futures:
        if not fut.done():
            fut.set_result(count)


_hubs: PerLoop[PresenceHub] = PerLoop(PresenceHub)


def get_hub() -> PresenceHub:
    """The hub of the running event loop (a server process runs one loop)."""
    return _hubs.get()


async def close_hub() -> None:
    """Shut down this loop's hub (tests; a server process just dies or drains)."""
    hub = _hubs.pop()
    if hub is not None:
        await hub.close()
