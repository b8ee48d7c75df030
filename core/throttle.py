"""Request throttles (SPEC §5) in Redis, shared by every server process, and the
client IP they key on.

A limit is a list of rates ``(count, seconds)``: at most ``count`` hits in any sliding
window of ``seconds``. Each (scope, identity) pair — ``("login-ip", "203.0.113.7")``,
``("donation-account", 42)`` — is one sorted set of hit times under
``key("throttle", scope, digest(identity))``, trimmed to the longest window and
expiring with it, so it holds at most ``max(count)`` members.

Cost: ``take()`` is one ``EVALSHA`` round trip, whatever the number of limits it checks:
the script reads every set and records the hit in all of them only when all allow it,
so two processes can never both take the last slot. ``Slot.release()`` (a hit that
should not count after all, e.g. a successful login) is one pipelined ``ZREM`` per set.
Times come from the Redis server clock, so hosts agree.

If Redis cannot be reached, the throttled action is refused with 503
``service_unavailable`` (fail closed): an unthrottled login or PaymentIntent endpoint
is what the throttles exist to prevent.

The client IP (``client_ip``) is the peer address, or — only when the peer is in
``TRUSTED_PROXIES`` — the right-most ``X-Forwarded-For`` entry that is not itself a
trusted proxy. The ASGI server must not rewrite the peer address from that header on
its own (``scripts/asgi_server.py`` passes ``--no-proxy-headers`` to uvicorn; Daphne
trusts it only with ``--proxy-headers``, which we never pass).
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import logging
import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
from django.conf import settings

from core.exceptions import ApplicationError, RateLimited
from core.redis import get_redis, key

logger = logging.getLogger(__name__)

Rate = tuple[int, int]  # (count, seconds)
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# IPv6 clients are counted per /64: one subscriber usually holds a whole /64, and
# counting single addresses would let them rotate through 2^64 of them.
IPV6_PREFIX = 64

_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local member = ARGV[1]
local i = 2
local spans = {}
local wait = 0
for k = 1, #KEYS do
  local n = tonumber(ARGV[i]); i = i + 1
  local span = 0
  local rates = {}
  for r = 1, n do
    local count = tonumber(ARGV[i]); local window = tonumber(ARGV[i + 1]); i = i + 2
    rates[r] = {count, window}
    if window > span then span = window end
  end
  spans[k] = span
  redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', now - span)
  for r = 1, n do
    local count = rates[r][1]; local window = rates[r][2]
    local used = redis.call('ZCOUNT', KEYS[k], '(' .. (now - window), '+inf')
    if used >= count then
      -- The window admits a hit again once (used - count + 1) of its hits expire.
      local oldest = redis.call('ZRANGEBYSCORE', KEYS[k], '(' .. (now - window), '+inf',
        'WITHSCORES', 'LIMIT', used - count, 1)
      local w = tonumber(oldest[2]) + window - now
      if w > wait then wait = w end
    end
  end
end
if wait > 0 then return wait end
for k = 1, #KEYS do
  redis.call('ZADD', KEYS[k], now, member)
  redis.call('PEXPIRE', KEYS[k], spans[k])
end
return 0
"""


class ThrottleUnavailable(ApplicationError):
    status = 503
    default_code = "service_unavailable"


@dataclass(frozen=True)
class Limit:
    """``rates`` for one ``scope`` (``"login-ip"``) and one ``identity`` in it (an IP,
    an account id, a normalized username). No rates: no limit."""

    scope: str
    identity: object
    rates: Sequence[Rate]

    def redis_key(self) -> str:
        # A digest keeps user-supplied identities (usernames) short and key-safe.
        digest = hashlib.sha256(str(self.identity).encode()).hexdigest()[:32]
        return key("throttle", self.scope, digest)


@dataclass
class Slot:
    """A hit recorded by ``take()``; ``release()`` un-counts it."""

    keys: list[str] = field(default_factory=list)
    member: str = ""

    def release(self) -> None:
        if not self.keys:
            return
        try:
            pipe = get_redis().pipeline(transaction=False)
            for k in self.keys:
                pipe.zrem(k, self.member)
            pipe.execute()
        except redis.RedisError:  # the hit then simply counts until it expires
            logger.warning("could not release a throttle slot", exc_info=True)
        self.keys = []


@functools.cache
def _take_script() -> Any:
    return get_redis().register_script(_TAKE)


def take(*limits: Limit, message: str = "Too many attempts; try again later.") -> Slot:
    """Record one hit against every limit, or none: raise ``RateLimited`` (429, with
    ``retry_after`` seconds until all of them admit a hit again) if any is used up.
    ``ThrottleUnavailable`` (503) if Redis cannot be reached."""
    active = [limit for limit in limits if limit.rates]
    if not active:
        return Slot()
    member = uuid.uuid4().hex
    args: list[object] = [member]
    for limit in active:
        args.append(len(limit.rates))
        for count, seconds in limit.rates:
            args += [count, seconds * 1000]
    keys = [limit.redis_key() for limit in active]
    try:
        wait_ms = int(_take_script()(keys=keys, args=args))
    except redis.RedisError:
        logger.warning("throttle check failed: Redis unreachable", exc_info=True)
        raise ThrottleUnavailable(
            "This is unavailable for a moment; please try again.",
            extra={"retry_after": 1},
        ) from None
    if wait_ms > 0:
        raise RateLimited(message, retry_after=max(1, math.ceil(wait_ms / 1000)))
    return Slot(keys=keys, member=member)


# --------------------------------------------------------------------------- client IP


@functools.cache
def _trusted(proxies: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    """``TRUSTED_PROXIES`` (validated by the settings) as networks."""
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _parse_ip(value: str) -> IPAddress | None:
    """An address as proxies write it: ``1.2.3.4``, ``1.2.3.4:5678``, ``2001:db8::1``,
    ``[2001:db8::1]:443``. IPv4-mapped IPv6 becomes IPv4."""
    value = value.strip().strip('"')
    if value.startswith("["):
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _is_trusted(ip: IPAddress, networks: Iterable[IPNetwork]) -> bool:
    return any(ip.version == net.version and ip in net for net in networks)


def client_ip(request: Any) -> str:
    """The client's IP address (SPEC §5). ``request`` is a Django or DRF request."""
    meta = request.META
    peer_text = meta.get("REMOTE_ADDR") or ""
    peer = _parse_ip(peer_text)
    if peer is None:
        return peer_text or "unknown"
    networks = _trusted(tuple(settings.TRUSTED_PROXIES))
    if not networks or not _is_trusted(peer, networks):
        return str(peer)
    # Each trusted proxy appended the address it saw; walk back from the right until an
    # address not ours. Anything left of it was written by the client and is ignored.
    hops = (meta.get("HTTP_X_FORWARDED_FOR") or "").split(",")
    client = peer
    for hop in reversed(hops):
        if not hop.strip():
            continue
        ip = _parse_ip(hop)
        if ip is None:  # not written by a proxy of ours: stop at the last trusted hop
            break
        client = ip
        if not _is_trusted(ip, networks):
            break
    return str(client)


def ip_identity(ip: str) -> str:
    """What per-IP limits count: the address, or its /64 for IPv6."""
    parsed = _parse_ip(ip)
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((parsed, IPV6_PREFIX), strict=False))
    return str(parsed) if parsed is not None else ip


def ip_limit(scope: str, request: Any, rates: Sequence[Rate]) -> Limit:
    return Limit(scope, ip_identity(client_ip(request)), rates)
