"""Pooled database connections (config/settings.py DATABASES, DATABASE_POOL_SIZE): two
real server processes answer 500 concurrent requests that all need the database, and
PostgreSQL never sees more than processes x pool connections from them — no
connection per request, no "too many clients", no 5xx; requests queue for a pooled
connection instead."""

from __future__ import annotations

import asyncio
import secrets
import threading

import httpx
import psycopg
import pytest

from chat.models import ChatMessage
from tests.support import rooms
from tests.support.factories import make_stream, make_user
from tests.support.rooms import cookie_for
from tests.support.servers import test_database_url as database_url

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

POOL = 4
PROCESSES = 2
REQUESTS = 500


class ConnectionSampler:
    """Counts the servers' PostgreSQL connections (by application_name) every few
    milliseconds from a connection of its own; keeps the highest count."""

    def __init__(self, application_name: str) -> None:
        self.name = application_name
        self.highest = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with psycopg.connect(database_url(), autocommit=True) as conn:
            while not self._stop.is_set():
                (count,) = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND application_name = %s",
                    [self.name],
                ).fetchone()
                self.highest = max(self.highest, count)
                self.samples += 1
                self._stop.wait(0.005)

    def __enter__(self) -> ConnectionSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def test_500_concurrent_requests_over_two_processes_stay_within_the_pools(log_dir):
    name = f"pooltest-{secrets.token_hex(4)}"
    owner, viewer = make_user(), make_user()
    streams = [make_stream(owner, status="live") for _ in range(5)]
    ChatMessage.objects.bulk_create(
        ChatMessage(stream=streams[0], user=viewer, text=f"message {i}") for i in range(30)
    )
    cookie = cookie_for(viewer)
    # Every one of these reads PostgreSQL: the live list (count + page), chat history,
    # a logged-in user (session + user rows).
    paths = [
        "/api/streams?status=live",
        f"/api/streams/{streams[0].id}/chat/messages?limit=20",
        "/api/auth/me",
    ]
    with (
        rooms.two_servers(
            log_dir,
            DATABASE_POOL="1",
            DATABASE_POOL_SIZE=str(POOL),
            DATABASE_APPLICATION_NAME=name,
        ) as servers,
        ConnectionSampler(name) as sampler,
    ):

        async def burst() -> list[httpx.Response]:
            limits = httpx.Limits(max_connections=REQUESTS, max_keepalive_connections=0)
            async with httpx.AsyncClient(timeout=60, limits=limits) as client:
                return await asyncio.gather(
                    *(
                        client.get(
                            servers[i % PROCESSES].http_url + paths[i % len(paths)],
                            headers={"Cookie": cookie},
                        )
                        for i in range(REQUESTS)
                    )
                )

        answers = asyncio.run(burst())
        logs = "".join(server.log() for server in servers)

    statuses = sorted({a.status_code for a in answers})
    assert statuses == [200], [
        (a.status_code, a.text[:200]) for a in answers if a.status_code != 200
    ][:3]
    assert sampler.samples > 10
    print(f"{REQUESTS} requests, at most {sampler.highest} connections ({sampler.samples} samples)")
    assert 0 < sampler.highest <= PROCESSES * POOL
    assert "too many clients" not in logs.lower()
    assert "Traceback" not in logs
