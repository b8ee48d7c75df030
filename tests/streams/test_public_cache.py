"""``GET /api/streams/{id}`` from the room snapshot in Redis (streams/apis.py), against a
real server process: every change to what the public payload shows is visible to the
next read, ``ETag`` / ``If-None-Match`` answer 304, and an anonymous read needs no
database at all."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta

import httpx
import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from donations.services import do_process_stripe_event, do_reconcile_stream_total
from gamification import services as gamification
from streams import services
from streams.models import LiveStream
from streams.viewers import persist_viewer_peaks
from tests.donations.helpers import pending_donation, refunded_event, succeeded_event
from tests.support.factories import make_stream, make_user
from tests.support.rooms import connect, cookie_for
from tests.support.servers import test_database_url as database_url
from tests.support.servers import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def app(asgi_server, stripe_keys):
    with httpx.Client(base_url=asgi_server.http_url, timeout=10) as client:
        client.server = asgi_server
        yield client


def read(app, stream_id: int, **headers: str) -> httpx.Response:
    return app.get(f"/api/streams/{stream_id}", headers=headers)


def test_every_change_to_the_public_stream_shows_in_the_next_read(app):
    owner = make_user()
    stream = services.do_create_stream(streamer=owner, title="First title")
    assert read(app, stream.id).json()["title"] == "First title"  # cached from here on
    assert read(app, stream.id).json()["title"] == "First title"

    services.do_update_stream(user=owner, stream_id=stream.id, title="Second title")
    assert read(app, stream.id).json()["title"] == "Second title"

    services.do_go_live(stream_id=stream.id, user=owner)
    live = read(app, stream.id).json()
    assert live["status"] == "live" and live["actual_start"] is not None

    donation = pending_donation(stream, amount="500")
    assert do_process_stripe_event(event=succeeded_event(donation)) == "completed"
    assert read(app, stream.id).json()["total_donations"] == "500.00"

    assert do_process_stripe_event(event=refunded_event(donation, refunded_minor=200)) == (
        "partially_refunded"
    )
    assert read(app, stream.id).json()["total_donations"] == "300.00"

    # A total someone broke by hand is repaired by the reconcile job, and shows.
    LiveStream.objects.filter(id=stream.id).update(total_donations=9)
    assert do_reconcile_stream_total(stream_id=stream.id) is True
    assert read(app, stream.id).json()["total_donations"] == "300.00"

    # Two viewers watch: the peak reaches max_viewers through the periodic job.
    async def watch_and_persist():
        path = f"/ws/streams/{stream.id}/"
        first = await connect(app.server, path)
        second = await connect(app.server, path)
        await asyncio.to_thread(
            wait_until,
            lambda: read(app, stream.id).json()["viewer_count"] == 2,
            "two viewers counted",
            15,
        )
        await asyncio.sleep(1.5)  # the peak is written with the count
        await asyncio.to_thread(persist_viewer_peaks)
        await first.close()
        await second.close()

    asyncio.run(watch_and_persist())
    assert read(app, stream.id).json()["max_viewers"] == 2

    # Eleven live minutes are 110 EXP: the streamer reaches level 2.
    assert read(app, stream.id).json()["streamer"]["current_level"] == 1
    LiveStream.objects.filter(id=stream.id).update(
        actual_start=timezone.now() - timedelta(minutes=11)
    )
    services.do_update_stream(user=owner, stream_id=stream.id, title="Third title")  # re-cache
    assert read(app, stream.id).json()["title"] == "Third title"
    gamification.award_stream_minutes(now=timezone.now())
    assert read(app, stream.id).json()["streamer"]["current_level"] == 2

    services.do_end_stream(stream_id=stream.id, user=owner)
    ended = read(app, stream.id).json()
    assert ended["status"] == "ended" and ended["actual_end"] is not None


def test_a_stream_created_after_a_read_of_its_id_is_found(app):
    owner = make_user()
    probe = services.do_create_stream(streamer=owner, title="probe")
    unknown = read(app, probe.id + 1)
    assert unknown.status_code == 404
    assert unknown.json() == {"error": {"code": "not_found", "message": "Stream not found."}}
    created = services.do_create_stream(streamer=owner, title="new one")
    assert created.id == probe.id + 1
    assert read(app, created.id).json()["title"] == "new one"


def test_etag_answers_304_until_the_body_changes(app):
    stream = make_stream(title="Tagged", status="live", actual_start=timezone.now())
    first = read(app, stream.id)
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "no-cache"
    assert "Cookie" in first.headers["Vary"]

    again = read(app, stream.id, **{"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["ETag"] == etag
    assert read(app, stream.id, **{"If-None-Match": f'"other", {etag}'}).status_code == 304
    assert read(app, stream.id, **{"If-None-Match": "*"}).status_code == 304
    # Junk in the header is no match, never an error.
    assert read(app, stream.id, **{"If-None-Match": 'W/"x" ,,, "'}).status_code == 200

    services.do_update_stream(user=None, stream_id=stream.id, title="Retitled")
    changed = read(app, stream.id, **{"If-None-Match": etag})
    assert changed.status_code == 200 and changed.json()["title"] == "Retitled"
    assert changed.headers["ETag"] != etag

    # The live viewer count is part of the body: a new viewer, a new ETag.
    retagged = changed.headers["ETag"]

    async def one_viewer():
        ws = await connect(app.server, f"/ws/streams/{stream.id}/")
        await asyncio.to_thread(
            wait_until,
            lambda: read(app, stream.id, **{"If-None-Match": retagged}).status_code == 200,
            "a new ETag once the viewer counts",
            15,
        )
        await ws.close()

    asyncio.run(one_viewer())


def test_the_owner_gets_the_ingest_view_from_the_same_url(app):
    owner = make_user()
    stream = make_stream(owner, title="Mine")
    public = read(app, stream.id)
    assert "ingest" not in public.json()
    mine = read(app, stream.id, Cookie=cookie_for(owner))
    assert mine.status_code == 200
    assert mine.json()["ingest"] == {
        "connected": False,
        "last_seen_at": None,
        "reconnect_deadline": None,
    }
    assert mine.headers["ETag"] != public.headers["ETag"]
    revalidated = read(
        app, stream.id, Cookie=cookie_for(owner), **{"If-None-Match": mine.headers["ETag"]}
    )
    assert revalidated.status_code == 304
    # Someone else's session sees the public stream, with its ETag.
    other = read(app, stream.id, Cookie=cookie_for(make_user()))
    assert other.json() == public.json() and other.headers["ETag"] == public.headers["ETag"]
    assert stream.stream_key not in mine.text + public.text + other.text


def test_anonymous_reads_need_no_database(app):
    """Reads keep answering while the streams table is locked (e.g. a long migration);
    the owner's view, which needs the row, waits for it."""
    stream = make_stream(title="Busy", status="live", actual_start=timezone.now())
    assert read(app, stream.id).status_code == 200  # cached
    owner_cookie = cookie_for(stream.streamer)
    connection.close()  # the test's own connection must not hold anything
    lock = psycopg.connect(database_url(), autocommit=False)
    try:
        lock.execute("LOCK TABLE live_streams IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        answers = [read(app, stream.id) for _ in range(20)]
        elapsed = time.monotonic() - started
        assert {a.status_code for a in answers} == {200}
        assert elapsed < 5, elapsed
        # The owner's view reads the row: it waits until the lock goes.
        result: dict = {}

        def owner_read():
            result["response"] = read(app, stream.id, Cookie=owner_cookie)

        waiting = threading.Thread(target=owner_read)
        waiting.start()
        waiting.join(1.5)
        assert waiting.is_alive(), "the owner's read did not need the row"
    finally:
        lock.rollback()
        lock.close()
    waiting.join(10)
    assert result["response"].status_code == 200
    assert "ingest" in result["response"].json()


def test_bad_ids_are_404_not_500(app):
    for path in ("/api/streams/abc", "/api/streams/-1", "/api/streams/99999999999999999999"):
        assert app.get(path).status_code == 404, path
