"""``POST /ingest/on_update`` on the fast path (streams/heartbeats.py), against a real
server process as nginx-rtmp calls it: a verified publisher's heartbeats need no
database and no row lock, yet every kick (end, publish-done, rotated key, suspended
account) still answers 403 on the next heartbeat, and the watchdog sees heartbeats
that only Redis recorded."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from django.db import connection

from accounts.models import User
from core.redis import get_redis
from core.redis import key as redis_key
from streams import services
from streams.models import LiveStream
from tests.support.factories import make_stream, make_user
from tests.support.servers import asgi_server, wait_until
from tests.support.servers import test_database_url as database_url

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SECRET = "fast-path-secret"
GRACE = 30
INTERVAL = 5
LEASE = 15  # = min(LEASE, GRACE - INTERVAL - 10)


@pytest.fixture(autouse=True)
def ingest_settings(settings):
    settings.INGEST_SECRET = SECRET
    settings.STREAM_RECONNECT_GRACE_SECONDS = GRACE
    settings.INGEST_UPDATE_INTERVAL_SECONDS = INTERVAL
    settings.INGEST_LEASE_SECONDS = LEASE


@pytest.fixture
def server(transactional_db, log_dir):
    with (
        asgi_server(
            log_dir,
            INGEST_SECRET=SECRET,
            STREAM_RECONNECT_GRACE_SECONDS=str(GRACE),
            INGEST_UPDATE_INTERVAL_SECONDS=str(INTERVAL),
            INGEST_LEASE_SECONDS=str(LEASE),
        ) as process,
        httpx.Client(base_url=process.http_url, timeout=10) as client,
    ):
        client.process = process
        yield client


def hook(client, kind: str, key: str, clientid: str = "1", *, secret: str = SECRET, **more):
    form = {"call": "update_publish" if kind == "on_update" else kind[3:], "app": "live"}
    form.update(name=key, clientid=clientid, addr="203.0.113.9", **more)
    return client.post(f"/ingest/{kind}", params={"secret": secret}, data=form)


def fast_heartbeats_seen(stream_id: int) -> float | None:
    """When the last heartbeat taken on the fast path arrived (only it writes this)."""
    return get_redis().zscore(redis_key("ingest", "seen"), str(stream_id))


def publish_and_warm_up(server, stream: LiveStream, clientid: str = "1") -> None:
    """Publish, then heartbeat until one is served on the fast path (the server's
    account listener connects on its first heartbeat)."""
    assert hook(server, "on_publish", stream.stream_key, clientid).status_code == 200

    def fast() -> bool:
        assert hook(server, "on_update", stream.stream_key, clientid).status_code == 200
        return fast_heartbeats_seen(stream.id) is not None

    wait_until(fast, "a heartbeat on the fast path", timeout=15)


class RowLock:
    """``SELECT ... FOR UPDATE`` on a stream's row from another connection, held open."""

    def __init__(self, stream_id: int) -> None:
        self.conn = psycopg.connect(database_url(), autocommit=False)
        self.conn.execute("SELECT id FROM live_streams WHERE id = %s FOR UPDATE", [stream_id])

    def release(self) -> None:
        self.conn.rollback()
        self.conn.close()


def test_a_verified_publishers_heartbeats_skip_the_database_and_its_row_lock(server):
    stream = make_stream()
    publish_and_warm_up(server, stream)
    seen_in_db = LiveStream.objects.get(id=stream.id).ingest_seen_at
    connection.close()
    lock = RowLock(stream.id)
    try:
        started = time.monotonic()
        answers = [hook(server, "on_update", stream.stream_key).status_code for _ in range(10)]
        assert answers == [200] * 10
        assert time.monotonic() - started < 5
    finally:
        lock.release()
    # Those heartbeats are in Redis only; the database keeps its earlier time.
    assert LiveStream.objects.get(id=stream.id).ingest_seen_at == seen_in_db
    assert fast_heartbeats_seen(stream.id) > seen_in_db.timestamp()


def test_ending_the_stream_kicks_the_publisher_and_a_rotated_key_stays_out(server):
    stream = make_stream()
    publish_and_warm_up(server, stream)
    services.do_end_stream(stream_id=stream.id, user=stream.streamer)
    assert hook(server, "on_update", stream.stream_key).status_code == 403
    old_key = stream.stream_key
    rotated = services.do_rotate_stream_key(stream_id=stream.id, user=stream.streamer)
    assert hook(server, "on_update", old_key).status_code == 403
    assert hook(server, "on_update", rotated.stream_key).status_code == 403
    assert hook(server, "on_publish", old_key, "2").status_code == 403
    assert LiveStream.objects.get(id=stream.id).status == "ended"


def test_after_publish_done_the_old_publishers_heartbeats_are_refused(server):
    stream = make_stream()
    publish_and_warm_up(server, stream, clientid="7")
    assert hook(server, "on_publish_done", stream.stream_key, "7").status_code == 200
    assert hook(server, "on_update", stream.stream_key, "7").status_code == 403
    # OBS reconnects within the grace: the new session's heartbeats are fine again.
    publish_and_warm_up(server, stream, clientid="8")
    assert hook(server, "on_update", stream.stream_key, "7").status_code == 403
    live = LiveStream.objects.get(id=stream.id)
    assert live.status == "live" and live.ingest_client_id == "8"


def test_suspending_the_account_kicks_the_publisher_at_once(server):
    owner = make_user()
    stream = make_stream(owner)
    publish_and_warm_up(server, stream)
    # The platform suspends the account straight in the shared table.
    User.objects.filter(id=owner.id).update(account_status="suspended")
    started = time.monotonic()
    wait_until(
        lambda: hook(server, "on_update", stream.stream_key).status_code == 403,
        "the kick",
        timeout=2,
    )
    print(f"kicked {time.monotonic() - started:.3f} s after the suspension")
    assert hook(server, "on_update", stream.stream_key).status_code == 403
    # Reactivated: the publisher (who reconnects) may stream again.
    User.objects.filter(id=owner.id).update(account_status="active")
    assert hook(server, "on_update", stream.stream_key).status_code == 200


def test_a_listener_that_lost_its_connection_misses_no_suspension(server):
    owner = make_user()
    stream = make_stream(owner)
    publish_and_warm_up(server, stream)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name LIKE %s",
            ["%-listen"],
        )
        assert cursor.fetchall(), "no account listener connection found"
    # Suspended while the listener is down or reconnecting: heartbeats go to the
    # database (or find their lease void), never through.
    User.objects.filter(id=owner.id).update(account_status="suspended")
    answers = [hook(server, "on_update", stream.stream_key).status_code for _ in range(20)]
    assert set(answers) == {403}
    # The listener is back: a later change is heard again.
    User.objects.filter(id=owner.id).update(account_status="active")
    publish_and_warm_up(server, stream, clientid="1")
    User.objects.filter(id=owner.id).update(account_status="deleted")
    wait_until(
        lambda: hook(server, "on_update", stream.stream_key).status_code == 403,
        "the kick",
        timeout=2,
    )


def test_the_watchdog_sees_fast_heartbeats_and_ends_a_vanished_ingest_at_its_last_one(server):
    stream = make_stream()
    publish_and_warm_up(server, stream)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        assert hook(server, "on_update", stream.stream_key).status_code == 200
        time.sleep(0.2)
    last = datetime.fromtimestamp(fast_heartbeats_seen(stream.id), tz=UTC)
    in_db = LiveStream.objects.get(id=stream.id).ingest_seen_at
    assert in_db < last  # the database did not see the last heartbeats
    # The ingest vanishes. Just inside the grace after its last heartbeat the stream
    # is still live, although the database's copy alone would say it expired.
    almost = last + timedelta(seconds=GRACE - 1)
    assert almost - in_db >= timedelta(seconds=GRACE)
    assert services.end_stale_streams(now=almost) == []
    # Past the grace it ends, at the ingest's real last callback.
    assert services.end_stale_streams(now=last + timedelta(seconds=GRACE + 1)) == [stream.id]
    ended = LiveStream.objects.get(id=stream.id)
    assert ended.status == "ended"
    assert abs(ended.actual_end - last) < timedelta(milliseconds=5)
    assert hook(server, "on_update", stream.stream_key).status_code == 403


def test_heartbeats_carry_on_through_the_database_when_redis_forgets_everything(server):
    stream = make_stream()
    publish_and_warm_up(server, stream)
    client = get_redis()
    client.delete(*client.keys(redis_key("ingest", "*")))
    before = LiveStream.objects.get(id=stream.id).ingest_seen_at
    assert hook(server, "on_update", stream.stream_key).status_code == 200
    assert LiveStream.objects.get(id=stream.id).ingest_seen_at > before  # the database path
    publish_and_warm_up(server, stream)  # and the fast path again
    assert services.end_stale_streams() == []


def test_bad_heartbeats_are_refused_and_change_nothing(server):
    stream = make_stream()
    publish_and_warm_up(server, stream)
    assert hook(server, "on_update", stream.stream_key, secret="wrong").status_code == 403
    assert hook(server, "on_update", "not-a-key").status_code == 403
    assert hook(server, "on_update", stream.stream_key, clientid="99").status_code == 403
    assert hook(server, "on_update", "").status_code == 403
    garbage = server.post(
        "/ingest/on_update", params={"secret": SECRET}, content=b"\xff\xfe=&&name"
    )
    assert garbage.status_code == 403
    assert server.get("/ingest/on_update").status_code == 405
    live = LiveStream.objects.get(id=stream.id)
    assert live.status == "live" and live.ingest_client_id == "1"
    assert hook(server, "on_update", stream.stream_key).status_code == 200
    log = server.process.log()
    assert stream.stream_key not in log and SECRET not in log


def test_many_publishers_at_once(server):
    streams = [make_stream() for _ in range(8)]
    for stream in streams:
        publish_and_warm_up(server, stream, clientid=f"c{stream.id}")
    failures: list = []

    def beat(stream: LiveStream) -> None:
        for _ in range(25):
            code = hook(server, "on_update", stream.stream_key, f"c{stream.id}").status_code
            if code != 200:
                failures.append((stream.id, code))

    threads = [threading.Thread(target=beat, args=(s,)) for s in streams]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
