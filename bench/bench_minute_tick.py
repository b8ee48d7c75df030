"""Benchmark: the stream_minute tick with many live streams (not a test).

Runs in a scratch database (``bench_<name>``, created and migrated here, dropped at
the end) and compares, in the same run and on the same data:

* the set-based tick (``gamification.services.award_stream_minutes``), and
* a naive per-stream reference (lock, compute, log, update user, per stream),

reporting SQL statements issued and wall time. Realtime events are counted, not sent,
for both (their cost is Redis, measured separately in the last row).

    make bench                        # 10,000 streams
    BENCH_STREAMS=2000 make bench
"""

from __future__ import annotations

import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "1")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import F, Value  # noqa: E402
from django.db.models.functions import Coalesce  # noqa: E402
from django.utils import timezone  # noqa: E402

N = int(os.environ.get("BENCH_STREAMS", "10000"))


def populate(n: int, now) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO users (username, email, password_hash)"
            " SELECT 'bench' || g, 'bench' || g || '@example.com', '!'"
            " FROM generate_series(1, %s) g",
            [n],
        )
        cursor.execute(
            "INSERT INTO live_streams (streamer_id, title, stream_key, status, actual_start)"
            " SELECT u.id, 'Bench ' || u.id, md5(random()::text) || u.id, 'live', %s"
            " FROM users u WHERE u.username LIKE 'bench%%'",
            [now - timedelta(minutes=10, seconds=30)],
        )
        cursor.execute("ANALYZE")


def reset() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM user_exp_log")
        cursor.execute("DELETE FROM gamification_stream_exp")
        cursor.execute("DELETE FROM gamification_daily_action_count")
        cursor.execute("DELETE FROM user_achievements")
        cursor.execute("UPDATE users SET total_exp = 0, current_level = 1")
        cursor.execute("ANALYZE")


def naive_tick(now) -> int:
    """The obvious per-stream implementation (still exact: row lock + conditional
    update), for comparison only."""
    from accounts.models import User
    from gamification.models import ExpAction, StreamExp, UserExpLog
    from gamification.services import level_for_exp
    from realtime import event_types, groups
    from realtime.events import send_event_on_commit
    from streams.models import LiveStream

    paid = 0
    action = ExpAction.objects.get(action_type="stream_minute")
    for stream in LiveStream.objects.filter(status="live", actual_start__isnull=False):
        with transaction.atomic():
            StreamExp.objects.get_or_create(stream_id=stream.id)
            progress = StreamExp.objects.select_for_update().get(stream_id=stream.id)
            target = int((now - stream.actual_start).total_seconds() // 60)
            if target <= progress.minutes_awarded:
                continue
            exp = (target - progress.minutes_awarded) * action.base_exp
            moved = StreamExp.objects.filter(
                stream_id=stream.id, minutes_awarded=progress.minutes_awarded
            ).update(minutes_awarded=target, exp_awarded=F("exp_awarded") + exp)
            if not moved:
                continue
            UserExpLog.objects.create(
                user_id=stream.streamer_id,
                action_type_id="stream_minute",
                exp_gained=exp,
                reference_type="live_stream",
                reference_id=stream.id,
            )
            User.objects.filter(pk=stream.streamer_id).update(
                total_exp=Coalesce(F("total_exp"), Value(0)) + exp
            )
            total = User.objects.values_list("total_exp", flat=True).get(pk=stream.streamer_id)
            level = level_for_exp(total)
            User.objects.filter(pk=stream.streamer_id).update(current_level=level)
            send_event_on_commit(
                groups.stream_dashboard(stream.id),
                event_types.exp(gained=exp, total_exp=total, current_level=level),
            )
            paid += 1
    return paid


def measure(label: str, fn, *, send_events: bool = False) -> dict:
    from realtime import events

    sent = []
    one = mock.patch.object(events, "send_event_now", lambda groups, event: sent.append(event))
    many = mock.patch.object(events, "send_events_now", lambda items: sent.extend(items))
    if send_events:
        one = mock.patch.object(events, "send_event_now", events.send_event_now)
        many = mock.patch.object(events, "send_events_now", events.send_events_now)
    statements = 0
    timings: list[tuple[float, str]] = []

    def count(execute, sql, params, many, context):
        nonlocal statements
        statements += 1
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timings.append((time.perf_counter() - started, " ".join(sql.split())[:70]))

    with one, many, connection.execute_wrapper(count):
        started = time.perf_counter()
        paid = fn()
        elapsed = time.perf_counter() - started
    return {
        "label": label,
        "statements": statements,
        "seconds": elapsed,
        "paid": paid,
        "events": len(sent) if not send_events else paid,
        "timings": timings,
    }


def check_exact(expected_per_user: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*), MIN(total_exp), MAX(total_exp) FROM users"
            " WHERE username LIKE 'bench%%'"
        )
        count, low, high = cursor.fetchone()
    assert (low, high) == (expected_per_user, expected_per_user), (count, low, high)


def main() -> None:
    from gamification import services

    settings.DATABASES["default"]["TEST"]["NAME"] = "bench_gamification"
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        now = timezone.now()
        t0 = time.perf_counter()
        populate(N, now)
        print(f"populated {N} users + live streams in {time.perf_counter() - t0:.1f}s")

        def set_based(at):
            return lambda: len(services.award_stream_minutes(now=at).awards)

        def naive(at):
            return lambda: naive_tick(at)

        rows = []
        rows.append(measure("set-based, first tick (10 min each)", set_based(now)))
        rows.append(
            measure("set-based, next tick (+1 min each)", set_based(now + timedelta(minutes=1)))
        )
        rows.append(
            measure("set-based, idle tick (nothing due)", set_based(now + timedelta(minutes=1)))
        )
        check_exact(110)
        reset()
        rows.append(measure("naive per-stream, first tick", naive(now)))
        rows.append(measure("naive per-stream, next tick", naive(now + timedelta(minutes=1))))
        rows.append(measure("naive per-stream, idle tick", naive(now + timedelta(minutes=1))))
        check_exact(110)
        reset()
        rows.append(
            measure(
                "set-based, first tick, events sent to Redis",
                set_based(now),
                send_events=True,
            )
        )
        check_exact(100)
        reset()
        rows.append(
            measure(
                "naive per-stream, first tick, events sent to Redis", naive(now), send_events=True
            )
        )
        check_exact(100)

        print()
        print(f"Minute tick, {N} live streams (PostgreSQL {connection.pg_version // 10000}):")
        print()
        print("| run | SQL statements | wall time | streams paid |")
        print("|---|---:|---:|---:|")
        for r in rows:
            print(f"| {r['label']} | {r['statements']} | {r['seconds']:.2f} s | {r['paid']} |")
        print()
        print("Slowest statements of the set-based first tick:")
        for seconds, sql in sorted(rows[0]["timings"], reverse=True)[:6]:
            print(f"  {seconds:6.2f} s  {sql}")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
