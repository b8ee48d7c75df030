"""Chat rate limit and slow mode in Redis, shared by every server process.

One Lua call per message checks the slow-mode token and a sliding 30-second window
(a sorted set of send times) and records the message only when both allow it.
Times come from the Redis server clock, so processes on different hosts agree.
"""

from __future__ import annotations

import functools
import math
import uuid

from core.redis import get_redis, key

WINDOW_SECONDS = 30
LIMIT = 20
PRIVILEGED_LIMIT = 100

_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local slow = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if slow > 0 then
  local pttl = redis.call('PTTL', KEYS[2])
  if pttl > 0 then return {'slow_mode', pttl} end
end
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {'rate_limited', tonumber(oldest[2]) + window - now}
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
if slow > 0 then redis.call('SET', KEYS[2], '1', 'PX', slow) end
return {'ok', 0}
"""


@functools.cache
def _script():
    return get_redis().register_script(_SCRIPT)


def take_chat_slot(*, stream_id: int, user_id: int, privileged: bool, slow_mode_seconds: int):
    """Record one message if allowed. Returns ``None`` or ``(code, retry_after_seconds)``
    with code ``slow_mode`` or ``rate_limited``. Owner and moderators are
    ``privileged``: a higher limit and no slow mode."""
    slow_ms = 0 if privileged else slow_mode_seconds * 1000
    code, wait_ms = _script()(
        keys=[key("chat", "rate", stream_id, user_id), key("chat", "slow", stream_id, user_id)],
        args=[
            WINDOW_SECONDS * 1000,
            PRIVILEGED_LIMIT if privileged else LIMIT,
            slow_ms,
            uuid.uuid4().hex,
        ],
    )
    if code == "ok":
        return None
    return code, max(1, math.ceil(int(wait_ms) / 1000))
