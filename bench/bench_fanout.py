"""Fan-out cost of a room broadcast: Redis commands and time per ``group_send``.

Compares channels-redis' ``RedisPubSubChannelLayer`` (what the project uses) with the
core ``RedisChannelLayer`` for N sockets of one room held by one server process.
Redis work is read from ``INFO commandstats`` around the sends.

    make bench
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("REDIS_PREFIX", f"bench-{os.getpid()}")

import django

django.setup()

import redis  # noqa: E402
from channels_redis.core import RedisChannelLayer  # noqa: E402
from channels_redis.pubsub import RedisPubSubChannelLayer  # noqa: E402
from django.conf import settings  # noqa: E402

MESSAGES = int(os.environ.get("BENCH_MESSAGES", "50"))
SIZES = [int(n) for n in os.environ.get("BENCH_SOCKETS", "10,100,1000").split(",")]
EVENT = {
    "type": "realtime.event",
    "event": {
        "type": "chat.message",
        "id": 1,
        "user": {"id": 1, "username": "kai", "display_name": "Kai", "current_level": 3},
        "text": "x" * 80,
        "created_at": "2026-11-27T16:00:00+00:00",
    },
}


def commandstats(r: redis.Redis) -> dict[str, int]:
    return {name: int(v["calls"]) for name, v in r.info("commandstats").items()}


def redis_cpu(r: redis.Redis) -> float:
    cpu = r.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


async def run(layer, sockets: int) -> tuple[float, float, dict[str, int]]:
    r = redis.Redis.from_url(settings.REDIS_URL)
    group = f"bench.{sockets}"
    channels = [await layer.new_channel() for _ in range(sockets)]
    for name in channels:
        await layer.group_add(group, name)
    await asyncio.sleep(0.2)
    before = commandstats(r)
    cpu_before = redis_cpu(r)
    started = time.perf_counter()

    async def drain(name: str) -> None:
        for _ in range(MESSAGES):
            await layer.receive(name)

    receivers = [asyncio.ensure_future(drain(name)) for name in channels]
    for _ in range(MESSAGES):
        await layer.group_send(group, EVENT)
    await asyncio.wait_for(asyncio.gather(*receivers), timeout=300)
    elapsed = time.perf_counter() - started
    after = commandstats(r)
    cpu_ms = (redis_cpu(r) - cpu_before) * 1000 / MESSAGES
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    delta = {k: v for k, v in delta.items() if v > 0 and k not in ("cmdstat_info",)}
    for name in channels:
        await layer.group_discard(group, name)
    await layer.flush()
    r.close()
    per_message = sum(delta.values()) / MESSAGES
    return per_message, elapsed / MESSAGES * 1000, cpu_ms, delta


async def main() -> None:
    hosts = [settings.REDIS_URL]
    prefix = f"{settings.REDIS_PREFIX}:bench"
    print(f"{MESSAGES} group_send calls to one room of N sockets in one process\n")
    print(
        f"{'layer':<7} {'N':>5} {'cmds/msg':>9} {'redis cpu ms/msg':>17}"
        f" {'ms/msg delivered':>17}  commands (incl. inside Lua)"
    )
    for sockets in SIZES:
        for label, factory in (
            ("pubsub", lambda: RedisPubSubChannelLayer(hosts=hosts, prefix=prefix)),
            ("core", lambda: RedisChannelLayer(hosts=hosts, prefix=prefix, capacity=10_000)),
        ):
            per_msg, ms, cpu_ms, delta = await run(factory(), sockets)
            ranked = sorted(delta.items(), key=lambda kv: -kv[1])
            top = ", ".join(f"{k.removeprefix('cmdstat_')}={v}" for k, v in ranked)
            print(f"{label:<7} {sockets:>5} {per_msg:>9.1f} {cpu_ms:>17.3f} {ms:>17.2f}  {top}")


if __name__ == "__main__":
    asyncio.run(main())
