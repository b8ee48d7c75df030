"""The gamification tasks on a real Celery worker process and the real Redis broker."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import psycopg
import pytest
from django.db import connection, transaction
from django.utils import timezone

from config.celery import app as celery_app
from gamification import services, tasks
from gamification.models import StreamExp, UserAchievement
from realtime import groups
from streams.models import LiveStream
from tests.gamification.helpers import live_stream, stream_minute_rows, total_exp, wait_until
from tests.support import servers
from tests.support.events import GroupListener
from tests.support.servers import CeleryWorker, celery_worker, subprocess_env

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def empty_queue():
    celery_app.control.purge()
    yield
    celery_app.control.purge()


def succeeded(worker: CeleryWorker, task_name: str) -> int:
    return sum(1 for line in worker.log().splitlines() if task_name in line and "succeeded" in line)


def test_a_real_worker_pays_each_minute_once_however_often_the_tick_is_sent(log_dir):
    streams = [live_stream(10.5) for _ in range(5)]

    with celery_worker(log_dir, pool="threads", concurrency=4) as worker:
        for _ in range(8):
            tasks.award_stream_minutes.delay()
        worker.wait_for_log("award_stream_minutes", count=8)
        wait_until(
            lambda: succeeded(worker, "gamification.tasks.award_stream_minutes") == 8,
            what="8 ticks succeeded",
        )

    for stream in streams:
        assert total_exp(stream.streamer) == 100
        assert len(stream_minute_rows(stream)) == 1


def test_ending_a_stream_settles_it_on_a_real_worker_after_the_commit(log_dir):
    stream = live_stream(5.5)

    with celery_worker(log_dir) as worker:
        with transaction.atomic():
            LiveStream.objects.filter(pk=stream.pk).update(
                status=LiveStream.Status.ENDED, actual_end=timezone.now(), max_viewers=11
            )
            services.schedule_settlement(stream_id=stream.pk)
        wait_until(
            lambda: StreamExp.objects.filter(stream=stream, settled_at__isnull=False).exists(),
            what="stream settled by the worker",
        )
        worker.wait_for_log("settle_stream_gamification")

    assert total_exp(stream.streamer) == 50
    assert set(
        UserAchievement.objects.filter(
            user=stream.streamer, completed_at__isnull=False
        ).values_list("achievement__code", flat=True)
    ) == {"first_stream_ended", "peak_viewers_10"}


def test_a_settle_task_for_a_missing_stream_returns_quietly(log_dir):
    with celery_worker(log_dir) as worker:
        tasks.settle_stream_gamification.delay(987654321)
        wait_until(
            lambda: succeeded(worker, "settle_stream_gamification") == 1,
            what="settle task succeeded",
        )
        assert "Traceback" not in worker.log()


def test_a_worker_killed_mid_tick_and_restarted_pays_exactly_once(log_dir):
    """acks_late + redelivery: the killed run's transaction never committed, the
    redelivered message pays the minutes once, a further tick pays nothing more."""
    stream = live_stream(10.5)
    StreamExp.objects.create(stream=stream)
    redelivery = {
        "CELERY_VISIBILITY_TIMEOUT": "3",
        "CELERY_UNACKED_RESTORE_INTERVAL": "1",
        "CELERY_UNACKED_RESTORE_THROTTLE": "1",
    }
    env = subprocess_env(**redelivery)

    def backends_waiting_on_a_lock() -> list[int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
            )
            return [row[0] for row in cursor.fetchall()]

    def activity() -> str:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid, state, wait_event_type, wait_event, left(query, 60)"
                " FROM pg_stat_activity WHERE datname = current_database()"
            )
            return repr(cursor.fetchall())

    # Hold the stream's progress row so the tick blocks inside its paying statement.
    blocker = psycopg.connect(servers.test_database_url())
    first = None
    try:
        blocker.execute(
            "SELECT 1 FROM gamification_stream_exp WHERE stream_id = %s FOR UPDATE", [stream.pk]
        )
        first = CeleryWorker(log_dir, env, name="worker-killed")
        tasks.award_stream_minutes.delay()
        first.wait_for_log("award_stream_minutes")
        try:
            wait_until(lambda: bool(backends_waiting_on_a_lock()), what="tick blocked")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{activity()}\n{first.log()}") from None
        first.kill()  # SIGKILL: no cleanup, no ack
    finally:
        # The database notices a dead client only when it next talks to it; end the
        # orphaned session the way a TCP keepalive would.
        if first is not None:
            first.kill()
            first.stop()
        with connection.cursor() as cursor:
            for pid in backends_waiting_on_a_lock():
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        blocker.rollback()
        blocker.close()
    assert total_exp(stream.streamer) == 0

    with celery_worker(log_dir, name="worker-restarted", **redelivery) as worker:
        wait_until(
            lambda: total_exp(stream.streamer) == 100,
            timeout=90,
            what="the redelivered tick paid the minutes",
        )
        tasks.award_stream_minutes.delay()
        wait_until(
            lambda: succeeded(worker, "gamification.tasks.award_stream_minutes") >= 2,
            timeout=90,
            what="redelivered and new tick both succeeded",
        )
        assert "Traceback" not in worker.log()

    assert total_exp(stream.streamer) == 100
    assert len(stream_minute_rows(stream)) == 1


def test_two_settle_tasks_racing_on_a_real_worker_unlock_each_achievement_once(log_dir):
    stream = live_stream(61.5)
    LiveStream.objects.filter(pk=stream.pk).update(
        status=LiveStream.Status.ENDED,
        actual_end=stream.actual_start + timedelta(minutes=61.5),
        max_viewers=10,
    )

    with celery_worker(log_dir, pool="threads", concurrency=2) as worker:
        tasks.settle_stream_gamification.delay(stream.pk)
        tasks.settle_stream_gamification.delay(stream.pk)
        wait_until(
            lambda: succeeded(worker, "settle_stream_gamification") == 2,
            what="both settle tasks succeeded",
        )

    completed = UserAchievement.objects.filter(user=stream.streamer, completed_at__isnull=False)
    assert sorted(completed.values_list("achievement__code", flat=True)) == [
        "first_stream_ended",
        "minutes_streamed_60",
        "peak_viewers_10",
    ]
    assert total_exp(stream.streamer) == 610
    assert len(stream_minute_rows(stream)) == 1


def test_the_exp_event_from_a_real_worker_reaches_the_dashboard_group(log_dir):
    stream = live_stream(2.5)
    group = groups.stream_dashboard(stream.pk)

    async def listen_while_the_worker_ticks() -> dict:
        async with GroupListener(group) as hear:
            tasks.award_stream_minutes.delay()
            return await hear(timeout=60)

    with celery_worker(log_dir):
        message = asyncio.run(listen_while_the_worker_ticks())

    assert message == {"type": "exp", "gained": 20, "total_exp": 20, "current_level": 1}
