"""Shared builders for the gamification tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from accounts.models import User
from gamification.models import ExpAction, UserExpLog
from streams.models import LiveStream
from tests.support.factories import make_stream, make_user


def live_stream(minutes: float, *, streamer: User | None = None, now: datetime | None = None):
    """A stream that went live ``minutes`` ago (``actual_start`` backdated)."""
    now = now or timezone.now()
    return make_stream(
        streamer=streamer or make_user(),
        status=LiveStream.Status.LIVE,
        actual_start=now - timedelta(minutes=minutes),
    )


def end_stream(stream: LiveStream, *, live_minutes: float) -> LiveStream:
    """Mark ``stream`` ended ``live_minutes`` after its ``actual_start``."""
    LiveStream.objects.filter(pk=stream.pk).update(
        status=LiveStream.Status.ENDED,
        actual_end=stream.actual_start + timedelta(minutes=live_minutes),
    )
    stream.refresh_from_db()
    return stream


def stream_minute_rows(stream: LiveStream) -> list[UserExpLog]:
    return list(
        UserExpLog.objects.filter(
            action_type_id="stream_minute", reference_type="live_stream", reference_id=stream.pk
        ).order_by("id")
    )


def total_exp(user: User) -> int:
    user.refresh_from_db()
    return user.total_exp


def set_stream_minute(**fields) -> None:
    ExpAction.objects.filter(action_type="stream_minute").update(**fields)


def run_concurrently(fn: Callable[[], object], n: int) -> list[object]:
    """Run ``fn`` in ``n`` threads released at once, each with its own DB connection."""
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n
    errors: list[BaseException] = []

    def target(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = fn()
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    return results


def wait_until(predicate: Callable[[], bool], *, timeout: float = 60, what: str = "") -> None:
    """Poll ``predicate`` (e.g. a database read) until it holds; bounded, not timed."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"still not true after {timeout}s: {what or predicate}")
