"""EXP, levels and achievements (SPEC §8).

``stream_minute`` is exact by construction: every stream has one
``gamification_stream_exp`` row whose ``minutes_awarded`` only moves forward, by a
conditional ``UPDATE … WHERE minutes_awarded = <old>`` in the same statement (hence
transaction) that inserts the ``user_exp_log`` row and increments
``users.total_exp``. Whatever runs the award — the beat tick, a retry, a redelivered
message, four workers at once, the settle task — a minute can be paid once only.

The minute tick is set-based: a fixed number of statements whatever the number of live
streams (measured in ``bench/`` and docs/gamification.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from math import isqrt

from django.db import connection, transaction
from django.utils import timezone

from realtime import event_types, groups
from realtime.events import invalidate_snapshots_on_commit, send_events_on_commit

logger = logging.getLogger(__name__)

STREAM_MINUTE = "stream_minute"

# Transaction-level advisory lock that serialises every stream_minute award (tick and
# settle). It keeps the daily cap exact across one user's streams and lets duplicate
# ticks return at once; exactness itself does not depend on it (see module docstring).
STREAM_MINUTE_LOCK = 0x6E65_7865_7870  # "nexexp"

STREAMING_CONDITIONS = ("streams_ended", "minutes_streamed", "peak_viewers", "donations_received")


# --------------------------------------------------------------------------- levels


def exp_for_level(level: int) -> int:
    """Total EXP needed to reach ``level``: ``50 x L x (L - 1)`` (L2 = 100, L3 = 300)."""
    return 50 * level * (level - 1)


def level_for_exp(total_exp: int) -> int:
    """The highest L with ``50*L*(L-1) <= total_exp`` (integers only, no float edges)."""
    m = max(int(total_exp or 0), 0) // 50  # L*(L-1) <= m  <=>  (2L-1)^2 <= 4m+1
    return (isqrt(4 * m + 1) + 1) // 2


def _level_sql(total: str) -> str:
    """``level_for_exp`` in SQL, on a bigint expression (numeric sqrt, then floor)."""
    return f"((floor(sqrt((4 * (({total}) / 50) + 1)::numeric))::bigint + 1) / 2)::int"


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ExpAward:
    stream_id: int
    user_id: int
    gained: int
    total_exp: int
    current_level: int


@dataclass(frozen=True)
class UnlockedAchievement:
    user_id: int
    code: str
    name: str
    description: str
    rarity: str
    badge_color: str | None
    progress: int
    completed_at: datetime


@dataclass
class TickResult:
    skipped: bool = False
    awards: list[ExpAward] = field(default_factory=list)
    closed_stream_ids: list[int] = field(default_factory=list)
    unlocked: list[UnlockedAchievement] = field(default_factory=list)


# --------------------------------------------------------------------------- SQL

_ENSURE_PROGRESS_SQL = """
INSERT INTO gamification_stream_exp
    (stream_id, minutes_awarded, exp_awarded, created_at, updated_at)
SELECT s.id, 0, 0, %(now)s, %(now)s
FROM live_streams s
WHERE s.actual_start IS NOT NULL
  AND (s.status = 'live' OR (s.status = 'ended' AND s.actual_end IS NOT NULL {ended_window}))
  AND NOT EXISTS (SELECT 1 FROM gamification_stream_exp p WHERE p.stream_id = s.id)
  {stream_filter}
ON CONFLICT (stream_id) DO NOTHING
"""

# One statement: lock due progress rows, split the new minutes against the daily cap,
# advance progress conditionally, log one row per stream, count the day's minutes and
# add EXP (with the level) to each streamer once. Data-modifying CTEs always run to
# completion and share one snapshot; ``advanced`` feeds everything that follows, so a
# progress row that did not move (``minutes_awarded`` changed under us) pays nothing.
_AWARD_SQL = """
WITH action AS (
    SELECT base_exp,
           COALESCE(max_daily_count, 0) AS cap,
           COALESCE(is_active, TRUE) AS active
    FROM exp_actions WHERE action_type = 'stream_minute'
),
locked AS (
    SELECT p.stream_id, s.streamer_id, p.minutes_awarded AS old,
           GREATEST(0, FLOOR(EXTRACT(EPOCH FROM (
               LEAST(COALESCE(s.actual_end,
                             -- live: up to the ingest's last sign of the broadcast
                             -- (publish-done, else last callback); started by hand:
                             -- up to now. A grace that expires is never paid.
                             CASE WHEN s.ingest_seen_at IS NULL THEN %(now)s
                                  WHEN s.ingest_client_id IS NULL
                                       AND s.ingest_done_at IS NOT NULL
                                  THEN s.ingest_done_at
                                  ELSE s.ingest_seen_at END),
                    %(now)s) - s.actual_start)) / 60
           ))::int AS target
    FROM gamification_stream_exp p
    JOIN live_streams s ON s.id = p.stream_id
    WHERE p.settled_at IS NULL
      AND s.actual_start IS NOT NULL
      AND (s.status = 'live' OR (s.status = 'ended' AND s.actual_end IS NOT NULL))
      {stream_filter}
    ORDER BY p.stream_id
    FOR UPDATE OF p
),
due AS (
    SELECT l.*, l.target - l.old AS minutes,
           SUM(l.target - l.old) OVER (
               PARTITION BY l.streamer_id ORDER BY l.stream_id) AS running
    FROM locked l
    WHERE l.target > l.old
),
credit AS (
    SELECT d.stream_id, d.streamer_id, d.old, d.target, d.minutes, a.base_exp,
           CASE
               WHEN NOT a.active THEN 0
               WHEN a.cap <= 0 THEN d.minutes
               ELSE GREATEST(0, LEAST(
                   d.minutes, a.cap - COALESCE(c.count, 0) - (d.running - d.minutes)))
           END AS credited
    FROM due d
    CROSS JOIN action a
    -- A lookup per row by the unique index, not a join the planner may misjudge.
    LEFT JOIN LATERAL (
        SELECT dc.count FROM gamification_daily_action_count dc
        WHERE dc.user_id = d.streamer_id
          AND dc.action_type = 'stream_minute'
          AND dc.day = %(day)s
    ) c ON TRUE
),
advanced AS (
    UPDATE gamification_stream_exp p
    SET minutes_awarded = c.target,
        exp_awarded = p.exp_awarded + c.credited * c.base_exp,
        updated_at = %(now)s
    FROM credit c
    WHERE p.stream_id = c.stream_id AND p.minutes_awarded = c.old
    RETURNING p.stream_id, c.streamer_id, c.credited, (c.credited * c.base_exp) AS exp
),
logged AS (
    INSERT INTO user_exp_log
        (user_id, action_type, exp_gained, reference_id, reference_type, description,
         created_at)
    SELECT streamer_id, 'stream_minute', exp, stream_id, 'live_stream',
           credited || ' live minute(s)', %(now)s
    FROM advanced WHERE exp > 0
    ORDER BY stream_id
    RETURNING id
),
counted AS (
    INSERT INTO gamification_daily_action_count (user_id, action_type, day, count)
    SELECT streamer_id, 'stream_minute', %(day)s, SUM(credited)
    FROM advanced WHERE credited > 0
    GROUP BY streamer_id
    ON CONFLICT (user_id, action_type, day)
    DO UPDATE SET count = gamification_daily_action_count.count + EXCLUDED.count
    RETURNING user_id
),
per_user AS (
    SELECT streamer_id, SUM(exp)::bigint AS exp
    FROM advanced WHERE exp > 0
    GROUP BY streamer_id
),
bumped AS (
    UPDATE users u
    SET total_exp = COALESCE(u.total_exp, 0) + pu.exp,
        current_level = {level}
    FROM per_user pu
    WHERE u.id = pu.streamer_id
    RETURNING u.id, u.total_exp, u.current_level
)
-- Two tagged row sets instead of a join of two CTEs: CTEs carry no statistics and a
-- misjudged nested loop over them is quadratic (10,000 streams: 100 M comparisons).
SELECT 's' AS kind, stream_id, streamer_id, exp, NULL::bigint, NULL::int
FROM advanced WHERE exp > 0
UNION ALL
SELECT 'u', NULL, id, NULL, total_exp, current_level FROM bumped
""".replace("{level}", _level_sql("COALESCE(u.total_exp, 0) + pu.exp"))

# Ended streams whose last minute is counted leave the tick for good.
_CLOSE_SQL = """
UPDATE gamification_stream_exp p
SET settled_at = %(now)s, updated_at = %(now)s
FROM live_streams s
WHERE s.id = p.stream_id
  AND p.settled_at IS NULL
  AND s.status IN ('ended', 'cancelled')
  AND (s.actual_start IS NULL OR s.actual_end IS NULL
       OR p.minutes_awarded >= FLOOR(EXTRACT(EPOCH FROM (s.actual_end - s.actual_start)) / 60))
  {stream_filter}
RETURNING p.stream_id, s.streamer_id
"""

# Progress for each (user, streaming achievement). A row that is already completed is
# locked but left alone; progress never goes down.
_ACHIEVEMENT_PROGRESS_SQL = """
WITH u(user_id) AS (SELECT DISTINCT unnest(%(users)s::bigint[])),
stats(user_id, condition_type, value) AS (
    SELECT u.user_id, 'streams_ended', (
        SELECT COUNT(*) FROM live_streams s
        WHERE s.streamer_id = u.user_id AND s.status = 'ended')
    FROM u WHERE 'streams_ended' = ANY(%(conditions)s)
    UNION ALL
    SELECT u.user_id, 'minutes_streamed', (
        SELECT COALESCE(SUM(p.minutes_awarded), 0)
        FROM gamification_stream_exp p JOIN live_streams s ON s.id = p.stream_id
        WHERE s.streamer_id = u.user_id)
    FROM u WHERE 'minutes_streamed' = ANY(%(conditions)s)
    UNION ALL
    SELECT u.user_id, 'peak_viewers', (
        SELECT COALESCE(MAX(s.max_viewers), 0) FROM live_streams s
        WHERE s.streamer_id = u.user_id)
    FROM u WHERE 'peak_viewers' = ANY(%(conditions)s)
    UNION ALL
    SELECT u.user_id, 'donations_received', (
        SELECT COUNT(*) FROM stream_donations d JOIN live_streams s ON s.id = d.stream_id
        WHERE s.streamer_id = u.user_id AND d.payment_status = 'completed')
    FROM u WHERE 'donations_received' = ANY(%(conditions)s)
)
INSERT INTO user_achievements (user_id, achievement_id, progress, completed_at)
SELECT st.user_id, a.id, LEAST(st.value, a.condition_value)::int, NULL
FROM stats st
JOIN achievements a ON a.condition_type = st.condition_type
WHERE a.code IS NOT NULL AND COALESCE(a.is_active, TRUE)
ORDER BY st.user_id, a.id
ON CONFLICT (user_id, achievement_id) DO UPDATE
SET progress = GREATEST(COALESCE(user_achievements.progress, 0), EXCLUDED.progress)
WHERE user_achievements.completed_at IS NULL
"""

# The unlock itself: only the transaction that flips completed_at from NULL gets the
# row back (a racing one waits for the row lock, re-checks, and finds it completed).
_ACHIEVEMENT_UNLOCK_SQL = """
UPDATE user_achievements ua
SET completed_at = %(now)s
FROM achievements a
WHERE a.id = ua.achievement_id
  AND ua.user_id = ANY(%(users)s::bigint[])
  AND a.condition_type = ANY(%(conditions)s)
  AND a.code IS NOT NULL AND COALESCE(a.is_active, TRUE)
  AND ua.completed_at IS NULL
  AND ua.progress >= a.condition_value
RETURNING ua.user_id, a.code, a.name, COALESCE(a.description, ''),
          COALESCE(a.rarity, 'common'), a.badge_color, ua.progress, ua.completed_at
"""


def _filter(stream_ids: list[int] | None, column: str) -> str:
    return "" if stream_ids is None else f"AND {column} = ANY(%(stream_ids)s)"


def _params(now: datetime, stream_ids: list[int] | None) -> dict:
    return {"now": now, "day": now.astimezone(UTC).date(), "stream_ids": stream_ids}


# --------------------------------------------------------------------------- internals


def _award_minutes(
    *, now: datetime, stream_ids: list[int] | None
) -> tuple[list[ExpAward], list[tuple[int, int]]]:
    """Pay every due minute of open streams (all, or ``stream_ids``); close ended ones.

    Precondition: inside ``transaction.atomic()`` holding ``STREAM_MINUTE_LOCK``.
    Returns the awards and the ``(stream_id, streamer_id)`` pairs closed just now.
    """
    params = _params(now, stream_ids)
    with connection.cursor() as cursor:
        # The tick adopts streams that ended in the last day without being settled;
        # settling one stream adopts it whenever it ended.
        ended_window = (
            "AND s.actual_end >= %(now)s - interval '1 day'" if stream_ids is None else ""
        )
        cursor.execute(
            _ENSURE_PROGRESS_SQL.format(
                stream_filter=_filter(stream_ids, "s.id"), ended_window=ended_window
            ),
            params,
        )
        cursor.execute(
            _AWARD_SQL.replace("{stream_filter}", _filter(stream_ids, "p.stream_id")), params
        )
        rows = cursor.fetchall()
        totals = {row[2]: (row[4], row[5]) for row in rows if row[0] == "u"}
        awards = sorted(
            (ExpAward(row[1], row[2], row[3], *totals[row[2]]) for row in rows if row[0] == "s"),
            key=lambda award: award.stream_id,
        )
        cursor.execute(_CLOSE_SQL.format(stream_filter=_filter(stream_ids, "p.stream_id")), params)
        closed = [(row[0], row[1]) for row in cursor.fetchall()]
    return awards, closed


def _update_achievements(
    *, user_ids: list[int], conditions: tuple[str, ...] | list[str], now: datetime
) -> list[UnlockedAchievement]:
    """Refresh progress and unlock what is due. Caller is inside ``transaction.atomic()``."""
    if not user_ids:
        return []
    params = {"users": sorted(set(user_ids)), "conditions": list(conditions), "now": now}
    with connection.cursor() as cursor:
        cursor.execute(_ACHIEVEMENT_PROGRESS_SQL, params)
        cursor.execute(_ACHIEVEMENT_UNLOCK_SQL, params)
        return [UnlockedAchievement(*row) for row in cursor.fetchall()]


def _emit_exp(awards: list[ExpAward]) -> None:
    send_events_on_commit(
        (
            groups.stream_dashboard(award.stream_id),
            event_types.exp(
                gained=award.gained,
                total_exp=award.total_exp,
                current_level=award.current_level,
            ),
        )
        for award in awards
    )
    _invalidate_level_ups(awards)


def _invalidate_level_ups(awards: list[ExpAward]) -> None:
    """A streamer who levelled up shows a new ``streamer.current_level`` in the public
    payload of their streams, which no room event carries: drop those cached
    snapshots (``realtime.snapshots``; HTTP reads and joins then load it afresh)."""
    gained: dict[int, int] = {}
    after: dict[int, tuple[int, int]] = {}
    for award in awards:
        gained[award.user_id] = gained.get(award.user_id, 0) + award.gained
        after[award.user_id] = (award.total_exp, award.current_level)
    levelled = [
        user_id
        for user_id, (total, level) in after.items()
        if level_for_exp(total - gained[user_id]) != level
    ]
    if not levelled:
        return
    from streams.models import LiveStream  # streams imports this module

    stream_ids = {a.stream_id for a in awards if a.user_id in levelled}
    stream_ids.update(
        LiveStream.objects.filter(
            streamer_id__in=levelled, status__in=["scheduled", "live"]
        ).values_list("id", flat=True)
    )
    invalidate_snapshots_on_commit(stream_ids)


def _emit_achievements(unlocked: list[UnlockedAchievement], stream_of_user: dict[int, int]) -> None:
    send_events_on_commit(
        (
            groups.stream_dashboard(stream_of_user[item.user_id]),
            event_types.achievement(
                code=item.code,
                name=item.name,
                description=item.description,
                rarity=item.rarity,
                badge_color=item.badge_color,
                progress=item.progress,
                completed_at=item.completed_at.isoformat(),
            ),
        )
        for item in unlocked
        if item.user_id in stream_of_user
    )


def _lock(*, wait: bool) -> bool:
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [STREAM_MINUTE_LOCK])
            return True
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [STREAM_MINUTE_LOCK])
        return bool(cursor.fetchone()[0])


# --------------------------------------------------------------------------- services


def award_stream_minutes(*, now: datetime | None = None) -> TickResult:
    """The minute tick: pay every live stream's new full minutes, catch up after any gap,
    finish streams that ended between ticks. Safe to run any number of times, at once.

    A run that finds another run in progress returns ``skipped`` immediately: the
    other run pays everything due, and anything newer is paid by the next tick.
    """
    now = now or timezone.now()
    result = TickResult()
    with transaction.atomic():
        if not _lock(wait=False):
            result.skipped = True
            return result
        result.awards, closed = _award_minutes(now=now, stream_ids=None)
        result.closed_stream_ids = [stream_id for stream_id, _ in closed]
        # Minutes achievements for everyone paid now; every streaming achievement for
        # streams that ended without being settled (a lost settle task heals here).
        stream_of_user = {a.user_id: a.stream_id for a in result.awards}
        result.unlocked = _update_achievements(
            user_ids=list(stream_of_user), conditions=("minutes_streamed",), now=now
        )
        closed_users = {user_id: stream_id for stream_id, user_id in closed}
        result.unlocked += _update_achievements(
            user_ids=list(closed_users), conditions=STREAMING_CONDITIONS, now=now
        )
        _emit_exp(result.awards)
        _emit_achievements(result.unlocked, {**stream_of_user, **closed_users})
    if result.awards or result.closed_stream_ids:
        logger.info(
            "stream_minute: %d stream(s) paid %d EXP, %d closed",
            len(result.awards),
            sum(a.gained for a in result.awards),
            len(result.closed_stream_ids),
        )
    return result


def settle_stream(*, stream_id: int, now: datetime | None = None) -> TickResult | None:
    """Settle one stream: its last minutes up to ``actual_end`` and the streamer's
    streaming achievements (ended streams, minutes, peak from ``live_streams.max_viewers``,
    donations). Idempotent and safe to race; ``None`` if the stream does not exist.

    Called for a stream that has ended (works for a live one too: pays minutes so far).
    """
    from streams.models import LiveStream

    now = now or timezone.now()
    result = TickResult()
    with transaction.atomic():
        _lock(wait=True)
        streamer_id = (
            LiveStream.objects.filter(pk=stream_id).values_list("streamer_id", flat=True).first()
        )
        if streamer_id is None:
            return None
        result.awards, closed = _award_minutes(now=now, stream_ids=[stream_id])
        result.closed_stream_ids = [sid for sid, _ in closed]
        result.unlocked = _update_achievements(
            user_ids=[streamer_id], conditions=STREAMING_CONDITIONS, now=now
        )
        _emit_exp(result.awards)
        _emit_achievements(result.unlocked, {streamer_id: stream_id})
    return result


def donation_achievements_due(*, streamer_id: int) -> bool:
    """Whether a completed donation could unlock anything for ``streamer_id``: an active
    ``donations_received`` achievement they have not completed. One indexed read and no
    lock, so a donation rush asks this instead of running ``check_donation_achievements``
    (which counts all the streamer's donations and locks their progress rows) every
    time; it is ``False`` from the first donation on."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM achievements a"
            " WHERE a.condition_type = 'donations_received' AND a.code IS NOT NULL"
            " AND COALESCE(a.is_active, TRUE) AND NOT EXISTS ("
            "   SELECT 1 FROM user_achievements ua WHERE ua.user_id = %s"
            "   AND ua.achievement_id = a.id AND ua.completed_at IS NOT NULL))",
            [streamer_id],
        )
        return bool(cursor.fetchone()[0])


def check_donation_achievements(
    *, streamer_id: int, stream_id: int | None = None, now: datetime | None = None
) -> list[UnlockedAchievement]:
    """Call after a donation to one of ``streamer_id``'s streams completed: unlocks
    "first donation received" once. The event goes to ``stream_id``'s dashboard (by
    default the streamer's newest stream with a completed donation)."""
    from donations.models import StreamDonation

    now = now or timezone.now()
    with transaction.atomic():
        unlocked = _update_achievements(
            user_ids=[streamer_id], conditions=("donations_received",), now=now
        )
        if unlocked and stream_id is None:
            stream_id = (
                StreamDonation.objects.filter(
                    stream__streamer_id=streamer_id,
                    payment_status=StreamDonation.PaymentStatus.COMPLETED,
                )
                .order_by("-id")
                .values_list("stream_id", flat=True)
                .first()
            )
        if stream_id is not None:
            _emit_achievements(unlocked, {streamer_id: stream_id})
    return unlocked


def schedule_settlement(*, stream_id: int) -> None:
    """Enqueue ``settle_stream_gamification`` when the surrounding transaction commits
    (call it in the transaction that marks the stream ended)."""
    from gamification.tasks import settle_stream_gamification

    # robust: the stream has ended either way; a broker hiccup is logged, not raised.
    transaction.on_commit(lambda: settle_stream_gamification.delay(stream_id), robust=True)
