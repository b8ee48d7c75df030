"""``streams.tasks``: the stale-stream sweep and the settle task, with a real worker."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from streams import services, tasks
from streams.models import LiveStream
from tests.support.events import capture_events
from tests.support.factories import make_stream
from tests.support.servers import celery_worker

pytestmark = pytest.mark.django_db


def _ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


@pytest.fixture
def grace(settings):
    settings.STREAM_RECONNECT_GRACE_SECONDS = 90
    return 90


def test_a_stream_whose_reconnect_grace_ran_out_is_ended(grace):
    stream = make_stream(
        status="live",
        actual_start=_ago(600),
        ingest_seen_at=_ago(grace + 1),
        ingest_done_at=_ago(grace + 1),
    )
    with capture_events() as sent:
        assert tasks.end_stale_streams() == [stream.id]
    stream.refresh_from_db()
    assert stream.status == "ended" and stream.actual_end is not None
    assert [e["stream"]["status"] for _, e in sent if e["type"] == "stream.state"] == ["ended"]


def test_a_stream_within_its_grace_stays_live(grace):
    stream = make_stream(
        status="live",
        actual_start=_ago(600),
        ingest_seen_at=_ago(grace - 10),
        ingest_done_at=_ago(grace - 10),
    )
    assert tasks.end_stale_streams() == []
    stream.refresh_from_db()
    assert stream.status == "live"


def test_a_stream_whose_ingest_server_went_silent_is_ended(grace):
    stream = make_stream(
        status="live",
        actual_start=_ago(600),
        ingest_client_id="7",
        ingest_seen_at=_ago(grace + 5),
    )
    assert tasks.end_stale_streams() == [stream.id]
    stream.refresh_from_db()
    assert stream.status == "ended" and stream.ingest_client_id is None


def test_a_stream_with_a_healthy_publisher_stays_live(grace):
    stream = make_stream(
        status="live", actual_start=_ago(600), ingest_client_id="7", ingest_seen_at=_ago(5)
    )
    assert tasks.end_stale_streams() == []
    stream.refresh_from_db()
    assert stream.status == "live"


def test_a_stream_started_by_hand_without_ingest_is_left_to_its_owner(grace):
    stream = make_stream(status="live", actual_start=_ago(10 * grace))
    assert tasks.end_stale_streams() == []
    stream.refresh_from_db()
    assert stream.status == "live"


def test_running_the_sweep_twice_ends_a_stream_once(grace):
    stream = make_stream(
        status="live", actual_start=_ago(600), ingest_seen_at=_ago(999), ingest_done_at=_ago(999)
    )
    with capture_events() as sent:
        assert tasks.end_stale_streams() == [stream.id]
        assert tasks.end_stale_streams() == []
    assert len([e for _, e in sent if e["type"] == "stream.state"]) == 1


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_ending_a_stream_enqueues_its_settlement_on_a_real_worker(log_dir):
    stream = make_stream()
    services.do_go_live(stream_id=stream.id)
    with celery_worker(log_dir) as worker:
        ended = services.do_end_stream(stream_id=stream.id)
        log = worker.wait_for_log(f"'stream_id': {stream.id}")
    assert "streams.tasks.settle_stream" in log
    assert ended.actual_end.isoformat() in log
    assert stream.stream_key not in log


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_the_worker_runs_the_stale_sweep_by_name(log_dir):
    stream = make_stream(
        status="live", actual_start=_ago(600), ingest_seen_at=_ago(999), ingest_done_at=_ago(999)
    )
    from config.celery import app

    with celery_worker(log_dir) as worker:
        app.send_task("streams.tasks.end_stale_streams")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if LiveStream.objects.get(id=stream.id).status == "ended":
                break
            time.sleep(0.2)
        # The end enqueued its settlement, which the same worker ran.
        worker.wait_for_log(f"'stream_id': {stream.id}")
    stream.refresh_from_db()
    assert stream.status == "ended" and stream.actual_end is not None
