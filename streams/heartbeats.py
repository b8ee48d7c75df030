"""Ingest heartbeats on a fast path (nginx-rtmp ``on_update``, SPEC §4).

Every live stream's publisher calls ``on_update`` every ``INGEST_UPDATE_INTERVAL_SECONDS``
(nginx-rtmp: 30 s; 10,000 live streams are 333 callbacks/s). The database path,
``services.do_ingest_update``, locks the stream's row, checks the key, the account, the
state and the publisher, and writes ``ingest_seen_at``. A heartbeat it allowed leaves a
*lease* in Redis that lets the following heartbeats of the same publisher through on
Redis alone for ``lease_seconds()``: one ``EVALSHA``, no database, no row lock.

Keys (``core.redis.key("ingest", ...)``; ``digest`` is an HMAC of the stream key, which
is never stored):

* ``lease:{digest}`` HASH ``sid``, ``client`` (the publisher's id), ``uid`` (the
  streamer), ``until`` (unix time the lease runs out), ``epoch``, ``last`` (the
  publisher's last callback). Written after a verified heartbeat or publish commits,
  and only if no revocation happened since the verification started
  (``gen:{digest}``, bumped by every revocation, is read before).
* ``seen`` ZSET stream id → unix time of the last heartbeat taken on the fast path.
  The database's ``ingest_seen_at`` holds the callbacks the database path took, so it
  lags by at most one lease plus one update interval; the watchdog, the end time and
  the owner's view use the later of the two.
* ``user:{uid}`` SET of the streamer's lease digests; ``epoch`` (see below).

A heartbeat takes the fast path when this process's account listener is connected, the
lease names this publisher, carries the current epoch and has not run out, and the
ingest's previous callback is less than the reconnect grace ago (else the database
decides whether the stream already expired). Everything else goes to the database,
which answers exactly as before (403 kicks the publisher).

Revocations run after commit: the stream ended, its publisher left (publish-done), its
key was rotated (``services``); the streamer's account changed: a trigger on ``users``
(``accounts`` migration 0002) sends ``NOTIFY eldonia_account_status``, which every
server process's listener turns into a revocation of that streamer's leases, whoever
changed the row (this project or the rest of the platform). A listener that
(re)connects bumps ``epoch``: leases granted while it was not listening are void. A
process whose listener is down serves every heartbeat from the database.

Safety: ``lease_seconds() = min(INGEST_LEASE_SECONDS, grace - interval - 10 s)``, so
while heartbeats flow the database's ``ingest_seen_at`` is never older than the grace
minus 10 s: even with Redis emptied the watchdog never ends a live stream (it would
only lose the exact end time of one that vanished meanwhile).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import transaction

from core.redis import get_async_redis, get_redis, key
from realtime.loops import PerLoop

logger = logging.getLogger(__name__)

ACCOUNT_CHANNEL = "eldonia_account_status"
SAFETY_MARGIN_SECONDS = 10
LEASE_HASH_TTL = 24 * 3600  # the sid stays known to the database path for a day
GEN_TTL = 24 * 3600
LISTENER_PING_SECONDS = 10.0

# KEYS: lease, seen, epoch   ARGV: client, now, grace
_BEAT = """
local v = redis.call('HMGET', KEYS[1], 'sid', 'client', 'until', 'epoch', 'last')
if not v[1] or v[2] ~= ARGV[1] then return 0 end
local now = tonumber(ARGV[2])
if now >= tonumber(v[3]) then return 0 end
if v[4] ~= (redis.call('GET', KEYS[3]) or '0') then return 0 end
local last = tonumber(v[5])
if now - last >= tonumber(ARGV[3]) then return 0 end
if now > last then redis.call('HSET', KEYS[1], 'last', ARGV[2]) end
redis.call('ZADD', KEYS[2], 'GT', ARGV[2], v[1])
return tonumber(v[1])
"""

# KEYS: lease, gen, epoch, seen
_PREPARE = """
local sid = redis.call('HGET', KEYS[1], 'sid')
local seen = false
if sid then seen = redis.call('ZSCORE', KEYS[4], sid) end
return {redis.call('GET', KEYS[2]) or '0', redis.call('GET', KEYS[3]) or '0', seen or ''}
"""

# KEYS: lease, gen, user   ARGV: gen, sid, client, uid, until, epoch, now, ttl, digest
_GRANT = """
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'sid', ARGV[2], 'client', ARGV[3], 'uid', ARGV[4],
           'until', ARGV[5], 'epoch', ARGV[6], 'last', ARGV[7])
redis.call('EXPIRE', KEYS[1], ARGV[8])
redis.call('SADD', KEYS[3], ARGV[9])
redis.call('EXPIRE', KEYS[3], ARGV[8])
return 1
"""

# KEYS: lease, gen, seen   ARGV: gen_ttl, stream id to forget ('' keeps it)
_REVOKE = """
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], 'client')
if ARGV[2] ~= '' then redis.call('ZREM', KEYS[3], ARGV[2]) end
return 1
"""


def lease_seconds() -> int:
    """How long a heartbeat verified in the database vouches for the next ones (0: the
    fast path is off, e.g. a grace too short for it)."""
    cap = (
        settings.STREAM_RECONNECT_GRACE_SECONDS
        - settings.INGEST_UPDATE_INTERVAL_SECONDS
        - SAFETY_MARGIN_SECONDS
    )
    return max(0, min(settings.INGEST_LEASE_SECONDS, cap))


def digest(stream_key: str) -> str:
    mac = hmac.new(settings.SECRET_KEY.encode(), stream_key.encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


def _lease(d: str) -> str:
    return key("ingest", "lease", d)


def _gen(d: str) -> str:
    return key("ingest", "gen", d)


def _seen() -> str:
    return key("ingest", "seen")


def _epoch() -> str:
    return key("ingest", "epoch")


def _user(uid: Any) -> str:
    return key("ingest", "user", uid)


def _at(score: Any) -> datetime | None:
    return None if score in (None, "", False) else datetime.fromtimestamp(float(score), tz=UTC)


# --------------------------------------------------------------------------- the database path


@dataclass(frozen=True)
class Prepared:
    """What the database path read from Redis before its transaction."""

    digest: str
    gen: str
    epoch: str
    seen: datetime | None  # the ingest's last callback as Redis knows it (exact), if known


def prepare(stream_key: str) -> Prepared | None:
    """Read before the transaction (no network I/O inside it): the lease generation and
    epoch a grant must still find, and the last callback Redis knows of. ``None`` when
    Redis cannot answer (the database alone decides; nothing is granted)."""
    if not stream_key:
        return None
    d = digest(stream_key)
    try:
        gen, epoch, seen = get_redis().eval(_PREPARE, 4, _lease(d), _gen(d), _epoch(), _seen())
    except Exception as exc:  # Redis down: the database path stands alone
        logger.warning("heartbeat lease unavailable (%s)", type(exc).__name__)
        return None
    return Prepared(d, str(gen), str(epoch), _at(seen))


def grant_on_commit(
    prepared: Prepared | None, *, stream_id: int, user_id: int, client_id: str, now: datetime
) -> None:
    """After the transaction that verified ``client_id`` as the stream's publisher
    commits: a lease for its next heartbeats, unless something revoked one since
    ``prepare``."""
    seconds = lease_seconds()
    if prepared is None or seconds <= 0:
        return
    at = now.timestamp()

    def run() -> None:
        try:
            get_redis().eval(
                _GRANT,
                3,
                _lease(prepared.digest),
                _gen(prepared.digest),
                _user(user_id),
                prepared.gen,
                stream_id,
                client_id,
                user_id,
                at + seconds,
                prepared.epoch,
                at,
                LEASE_HASH_TTL,
                prepared.digest,
            )
        except Exception as exc:  # no lease: the next heartbeat asks the database
            logger.warning("could not write a heartbeat lease (%s)", type(exc).__name__)

    transaction.on_commit(run, robust=True)


def revoke_on_commit(stream_key: str | None, *, forget_stream_id: int | None = None) -> None:
    """After commit: the key's lease is void (the next heartbeat asks the database);
    ``forget_stream_id``: the stream is over, drop its last-callback time too."""
    if not stream_key:
        return
    d = digest(stream_key)

    def run() -> None:
        try:
            get_redis().eval(
                _REVOKE,
                3,
                _lease(d),
                _gen(d),
                _seen(),
                GEN_TTL,
                "" if forget_stream_id is None else forget_stream_id,
            )
        except Exception:
            # The lease still runs out by itself (at most lease_seconds()).
            logger.exception("could not revoke a heartbeat lease")

    transaction.on_commit(run, robust=True)


def last_seen(stream_ids: Iterable[int]) -> dict[int, datetime]:
    """The ingest's last callback per stream as Redis knows it (streams it does not
    know, or all of them when Redis cannot answer, are left out)."""
    ids = list(stream_ids)
    if not ids:
        return {}
    try:
        scores = get_redis().zmscore(_seen(), [str(i) for i in ids])
    except Exception as exc:  # the database's copy is the fallback
        logger.warning("heartbeat times unavailable (%s)", type(exc).__name__)
        return {}
    return {i: at for i, s in zip(ids, scores, strict=True) if (at := _at(s)) is not None}


# --------------------------------------------------------------------------- the fast path


class _Redis:
    """This loop's Redis client and its registered scripts."""

    def __init__(self) -> None:
        self.client = get_async_redis()
        self.beat = self.client.register_script(_BEAT)


_redis: PerLoop[_Redis] = PerLoop(_Redis)


async def beat(stream_key: str, client_id: str) -> int | None:
    """A heartbeat on the fast path: the stream id when the lease allows it (the
    last-callback time is recorded), ``None`` when the database must decide."""
    if not stream_key or not client_id or lease_seconds() <= 0 or not listening():
        return None
    d = digest(stream_key)
    r = _redis.get()
    try:
        sid = await r.beat(
            keys=[_lease(d), _seen(), _epoch()],
            args=[client_id, time.time(), settings.STREAM_RECONNECT_GRACE_SECONDS],
        )
    except Exception as exc:  # Redis trouble: the database path answers
        logger.warning("heartbeat fast path unavailable (%s)", type(exc).__name__)
        return None
    return int(sid) or None


# --------------------------------------------------------------------------- account listener


class _Listener:
    """``LISTEN eldonia_account_status`` on a connection of its own (outside the pool),
    for as long as this event loop runs; reconnects with a backoff."""

    def __init__(self) -> None:
        self.connected = False
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        backoff = 0.5
        while True:
            try:
                await self._listen()
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep listening: reconnect
                logger.warning("account listener lost (%s); reconnecting", type(exc).__name__)
            finally:
                self.connected = False
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)

    async def _listen(self) -> None:
        import psycopg
        from django.db import connection

        params = connection.get_connection_params()
        for name in ("cursor_factory", "context", "prepare_threshold"):
            params.pop(name, None)
        params["application_name"] = f"{settings.DATABASE_APPLICATION_NAME}-listen"
        params.setdefault("connect_timeout", 5)
        params.setdefault("keepalives_idle", 10)
        conn = await psycopg.AsyncConnection.connect(autocommit=True, **params)
        async with conn:
            await conn.execute(f"LISTEN {ACCOUNT_CHANNEL}")
            # Leases granted while nobody here listened may have missed a change.
            await _redis.get().client.incr(_epoch())
            self.connected = True
            while True:
                async for notice in conn.notifies(timeout=LISTENER_PING_SECONDS):
                    await revoke_user(notice.payload)
                await conn.execute("SELECT 1")  # a dead connection raises here


_listeners: PerLoop[_Listener] = PerLoop(_Listener)


def listening() -> bool:
    """Whether this loop's account listener is connected (started on first use)."""
    return _listeners.get().connected


async def revoke_user(user_id: Any) -> None:
    """Void every lease of a streamer whose account changed (the next heartbeat of each
    asks the database, which refuses an inactive account)."""
    uid = str(user_id).strip()
    if not uid.isdigit():
        return
    client = _redis.get().client
    digests = await client.smembers(_user(uid))
    if not digests:
        return
    pipe = client.pipeline(transaction=False)
    for d in digests:
        pipe.incr(_gen(d))
        pipe.expire(_gen(d), GEN_TTL)
        pipe.hdel(_lease(d), "client")
    await pipe.execute()
    logger.info("account %s changed: %d heartbeat lease(s) revoked", uid, len(digests))
