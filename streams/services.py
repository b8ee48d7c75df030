"""Every change to a stream: the lifecycle state machine and the ingest callbacks.

States (seed): ``scheduled → live → ended`` and ``scheduled → cancelled``. Each
``do_*`` runs in one transaction holding the stream's row lock; illegal moves raise
``InvalidTransition`` (409 ``invalid_transition``). Events and Celery enqueues leave
only after commit.

The stream key is a secret: nothing here ever puts it in a log line, an exception
message or an event.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.exceptions import Forbidden, InvalidTransition, NotFound, ValidationFailed
from gamification.services import settle_stream as settle_stream_gamification
from realtime import event_types, groups, presence
from realtime.events import invalidate_snapshots_on_commit, send_event_on_commit
from streams import heartbeats
from streams.keys import keys_match, new_stream_key
from streams.models import LiveStream
from streams.serializers import public_stream
from streams.viewers import persist_viewer_peak
from webhooks.services import emit_stream_offline, emit_stream_online

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)

Status = LiveStream.Status

TITLE_MAX = 255
DESCRIPTION_MAX = 5000

# The only legal moves of the state machine.
TRANSITIONS: dict[str, set[str]] = {
    Status.SCHEDULED: {Status.LIVE, Status.CANCELLED},
    Status.LIVE: {Status.ENDED},
    Status.ENDED: set(),
    Status.CANCELLED: set(),
}


# --------------------------------------------------------------------------- helpers


def _now() -> datetime:
    return timezone.now()


def _grace() -> timedelta:
    return timedelta(seconds=settings.STREAM_RECONNECT_GRACE_SECONDS)


def _locked(stream_id: int, user: User | None) -> LiveStream:
    """The stream's row, locked; the caller is inside ``transaction.atomic()``.

    ``user`` is the acting owner (checked); ``None`` means a trusted system caller.
    """
    stream = (
        LiveStream.objects.select_for_update(of=("self",))
        .select_related("streamer")
        .filter(id=stream_id)
        .first()
    )
    if stream is None:
        raise NotFound("Stream not found.")
    if user is not None and stream.streamer_id != user.id:
        raise Forbidden("Only the stream's owner may do this.")
    return stream


def _check_transition(stream: LiveStream, target: str) -> None:
    if target not in TRANSITIONS.get(stream.status or "", set()):
        raise InvalidTransition(
            f"A {stream.status} stream cannot become {target}.",
            extra={"status": stream.status},
        )


def _broadcast_state(stream: LiveStream) -> None:
    send_event_on_commit(
        [
            groups.stream_room(stream.id),
            groups.stream_dashboard(stream.id),
            groups.streamer_overlays(stream.streamer_id),
        ],
        # Built after commit: the payload reads the live viewer count from Redis.
        lambda: event_types.stream_state(public_stream(stream)),
    )


def _broadcast_ingest(stream: LiveStream, *, connected: bool) -> None:
    send_event_on_commit(groups.stream_dashboard(stream.id), event_types.ingest(connected))


def _enqueue_settle(stream_id: int) -> None:
    from streams import tasks  # tasks import this module

    # robust: the stream has ended either way; a broker hiccup is logged, not raised.
    transaction.on_commit(lambda: tasks.settle_stream.delay(stream_id), robust=True)


# --------------------------------------------------------------------------- create / update


def _clean_title(title: object) -> str:
    if not isinstance(title, str) or not title.strip():
        raise ValidationFailed("title: give the stream a title.", extra={"field": "title"})
    title = title.strip()
    if len(title) > TITLE_MAX:
        raise ValidationFailed(f"title: at most {TITLE_MAX} characters.", extra={"field": "title"})
    return title


def _clean_description(description: object) -> str | None:
    if description is None:
        return None
    if not isinstance(description, str):
        raise ValidationFailed("description: must be text.", extra={"field": "description"})
    if len(description) > DESCRIPTION_MAX:
        raise ValidationFailed(
            f"description: at most {DESCRIPTION_MAX} characters.",
            extra={"field": "description"},
        )
    return description.strip() or None


# A scheduled start this far in the past is still accepted (client clock skew).
SCHEDULE_PAST_TOLERANCE_SECONDS = 60


def check_create_stream(
    *,
    streamer: User,
    title: object,
    description: object = None,
    scheduled_start: datetime | None = None,
) -> LiveStream:
    if scheduled_start is not None and timezone.is_naive(scheduled_start):
        raise ValidationFailed(
            "scheduled_start: include a time zone (ISO 8601, e.g. 2026-01-01T20:00:00Z).",
            extra={"field": "scheduled_start"},
        )
    if scheduled_start is not None and scheduled_start < timezone.now() - timedelta(
        seconds=SCHEDULE_PAST_TOLERANCE_SECONDS
    ):
        raise ValidationFailed(
            "scheduled_start: pick a time in the future.",
            extra={"field": "scheduled_start"},
        )
    return do_create_stream(
        streamer=streamer,
        title=_clean_title(title),
        description=_clean_description(description),
        scheduled_start=scheduled_start,
    )


def do_create_stream(
    *,
    streamer: User,
    title: str,
    description: str | None = None,
    scheduled_start: datetime | None = None,
) -> LiveStream:
    with transaction.atomic():
        stream = LiveStream.objects.create(
            streamer=streamer,
            title=title,
            description=description,
            scheduled_start=scheduled_start,
            stream_key=new_stream_key(),
            status=Status.SCHEDULED,
        )
        # A read of this id before it existed may have cached "no such stream".
        invalidate_snapshots_on_commit([stream.id])
    logger.info("stream %s created by user %s", stream.id, streamer.id)
    return stream


_UNSET = object()


def check_update_stream(
    *, user: User, stream_id: int, title: object = _UNSET, description: object = _UNSET
) -> LiveStream:
    return do_update_stream(
        user=user,
        stream_id=stream_id,
        title=None if title is _UNSET else _clean_title(title),
        description=_UNSET if description is _UNSET else _clean_description(description),
    )


def do_update_stream(
    *,
    user: User | None,
    stream_id: int,
    title: str | None = None,
    description: str | object | None = _UNSET,
) -> LiveStream:
    """Change the title and/or the description (``description=None`` clears it)."""
    with transaction.atomic():
        stream = _locked(stream_id, user)
        changed = []
        if title is not None and title != stream.title:
            stream.title = title
            changed.append("title")
        if description is not _UNSET and description != stream.description:
            stream.description = description  # type: ignore[assignment]
            changed.append("description")
        if changed:
            stream.save(update_fields=[*changed, "updated_at"])
            _broadcast_state(stream)
    return stream


# --------------------------------------------------------------------------- state machine


def _go_live(stream: LiveStream, now: datetime) -> None:
    """Caller holds the row lock and has checked the transition."""
    stream.status = Status.LIVE
    if stream.actual_start is None:  # set once, never moved by a resume
        stream.actual_start = now
    emit_stream_online(stream=stream)  # scheduled → live happens once per stream


def do_go_live(*, stream_id: int, user: User | None = None) -> LiveStream:
    """The owner's "start" button: live without an ingest publish (yet)."""
    with transaction.atomic():
        stream = _locked(stream_id, user)
        _check_transition(stream, Status.LIVE)
        _go_live(stream, _now())
        stream.save(update_fields=["status", "actual_start", "updated_at"])
        _broadcast_state(stream)
    logger.info("stream %s live (started by hand)", stream.id)
    return stream


def _end(stream: LiveStream, end_at: datetime, *, reason: str) -> None:
    """Caller holds the row lock and has checked the transition. ``end_at`` is when
    the broadcast really stopped (``actual_end``), never before it started."""
    stream.status = Status.ENDED
    start = stream.actual_start
    stream.actual_end = max(end_at, start) if start is not None else end_at
    was_connected = stream.ingest_client_id is not None
    stream.ingest_client_id = None
    stream.save(
        update_fields=["status", "actual_end", "ingest_client_id", "updated_at"],
    )
    _broadcast_state(stream)
    if was_connected:
        # The publisher gets kicked at its next update callback (403).
        _broadcast_ingest(stream, connected=False)
    _enqueue_settle(stream.id)
    emit_stream_offline(stream=stream)
    heartbeats.revoke_on_commit(stream.stream_key, forget_stream_id=stream.id)
    logger.info("stream %s ended (%s)", stream.id, reason)


def do_end_stream(*, stream_id: int, user: User | None = None, reason: str = "owner") -> LiveStream:
    with transaction.atomic():
        stream = _locked(stream_id, user)
        _check_transition(stream, Status.ENDED)
        _end(stream, _now(), reason=reason)
    return stream


def do_cancel_stream(*, stream_id: int, user: User | None = None) -> LiveStream:
    with transaction.atomic():
        stream = _locked(stream_id, user)
        _check_transition(stream, Status.CANCELLED)
        stream.status = Status.CANCELLED
        stream.save(update_fields=["status", "updated_at"])
        _broadcast_state(stream)
    logger.info("stream %s cancelled", stream.id)
    return stream


def do_rotate_stream_key(*, stream_id: int, user: User | None = None) -> LiveStream:
    """A new key; the old one stops working at once. Not while live (OBS is using it)."""
    with transaction.atomic():
        stream = _locked(stream_id, user)
        if stream.status == Status.LIVE:
            raise InvalidTransition(
                "The stream key cannot be rotated while the stream is live.",
                extra={"status": stream.status},
            )
        heartbeats.revoke_on_commit(stream.stream_key)  # the old key's lease, if any
        stream.stream_key = new_stream_key()
        stream.save(update_fields=["stream_key", "updated_at"])
    logger.info("stream %s key rotated", stream.id)
    return stream


# --------------------------------------------------------------------------- ingest


class IngestVerdict(enum.Enum):
    ALLOW = "allow"
    REJECT = "reject"


@dataclass(frozen=True)
class IngestResult:
    verdict: IngestVerdict
    reason: str
    stream_id: int | None = None

    @property
    def allowed(self) -> bool:
        return self.verdict is IngestVerdict.ALLOW


def _allow(reason: str, stream: LiveStream | None = None) -> IngestResult:
    return IngestResult(IngestVerdict.ALLOW, reason, stream.id if stream else None)


def _reject(reason: str, stream: LiveStream | None = None) -> IngestResult:
    return IngestResult(IngestVerdict.REJECT, reason, stream.id if stream else None)


def _locked_by_key(stream_key: str) -> LiveStream | None:
    """The stream whose key is ``stream_key``, locked; ``None`` if there is none.

    The index lookup finds the candidate; the final comparison is constant-time.
    """
    if not stream_key:
        return None
    stream = (
        LiveStream.objects.select_for_update(of=("self",))
        .select_related("streamer")
        .filter(stream_key=stream_key)
        .first()
    )
    if stream is None or not keys_match(stream_key, stream.stream_key):
        return None
    return stream


def _last_callback(stream: LiveStream, seen: datetime | None) -> datetime | None:
    """The ingest server's last callback about ``stream``: the later of the database's
    ``ingest_seen_at`` and ``seen``, the exact time Redis recorded (heartbeats on the
    fast path write only Redis: ``streams.heartbeats``)."""
    if seen is None or (stream.ingest_seen_at is not None and stream.ingest_seen_at >= seen):
        return stream.ingest_seen_at
    return seen


def _session_silent(stream: LiveStream, now: datetime, seen: datetime | None = None) -> bool:
    """The active publisher has missed two update callbacks (a zombie session)."""
    window = timedelta(seconds=2 * settings.INGEST_UPDATE_INTERVAL_SECONDS + 5)
    last = _last_callback(stream, seen)
    return last is None or last < now - window


def _ingest_expired(stream: LiveStream, now: datetime, seen: datetime | None = None) -> bool:
    """An ingest-driven live stream whose grace ran out (caller holds the lock)."""
    last = _last_callback(stream, seen)
    if stream.status != Status.LIVE or last is None:
        return False  # not live, or started by hand and never published: owner ends it
    cutoff = now - _grace()
    if stream.ingest_client_id is None:
        return stream.ingest_done_at is not None and stream.ingest_done_at <= cutoff
    return last <= cutoff


def _broadcast_stopped_at(stream: LiveStream, seen: datetime | None = None) -> datetime:
    """When an expired ingest-driven broadcast really stopped (SPEC §4): the
    publish-done callback when the grace ran out, else the ingest server's last
    callback. Neither the grace period nor the watchdog's delay is live time."""
    if stream.ingest_client_id is None and stream.ingest_done_at is not None:
        return stream.ingest_done_at
    return _last_callback(stream, seen) or _now()


def _expiry_reason(stream: LiveStream) -> str:
    if stream.ingest_client_id is None:
        return "reconnect grace expired"
    return "ingest silent longer than the grace period"


def do_ingest_publish(*, stream_key: str, client_id: str) -> IngestResult:
    """The ingest server asks whether ``stream_key`` may publish (nginx ``on_publish``)."""
    now = _now()
    lease = heartbeats.prepare(stream_key)  # Redis, before the transaction
    seen = lease.seen if lease is not None else None
    with transaction.atomic():
        stream = _locked_by_key(stream_key)
        if stream is None:
            return _reject("unknown stream key")
        if not stream.streamer.account_is_active:
            return _reject("streamer account is not active", stream)
        if stream.status in (Status.ENDED, Status.CANCELLED):
            return _reject(f"stream is {stream.status}", stream)
        if stream.status == Status.LIVE and _ingest_expired(stream, now, seen):
            # Grace ran out before the periodic job noticed: the stream is over.
            reason = _expiry_reason(stream)
            _end(stream, _broadcast_stopped_at(stream, seen), reason=reason)
            return _reject(f"stream ended: {reason}", stream)
        if stream.status == Status.LIVE and stream.ingest_client_id not in (None, client_id):
            if not _session_silent(stream, now, seen):
                # nginx-rtmp #1572: a second publisher on a live key. Keep the first.
                return _reject("stream already has a publisher", stream)
            logger.info("stream %s: replacing a silent ingest session", stream.id)
        resumed = stream.status == Status.LIVE
        was_connected = stream.ingest_client_id is not None
        was_reconnecting = resumed and not was_connected and stream.ingest_done_at is not None
        if stream.status == Status.SCHEDULED:
            _go_live(stream, now)
        stream.ingest_client_id = client_id
        stream.ingest_seen_at = now
        stream.ingest_done_at = None
        stream.save(
            update_fields=[
                "status",
                "actual_start",
                "ingest_client_id",
                "ingest_seen_at",
                "ingest_done_at",
                "updated_at",
            ]
        )
        if not resumed or was_reconnecting:
            _broadcast_state(stream)  # live, or no longer "reconnecting"
        if not was_connected:
            _broadcast_ingest(stream, connected=True)
        heartbeats.grant_on_commit(
            lease, stream_id=stream.id, user_id=stream.streamer_id, client_id=client_id, now=now
        )
    logger.info(
        "stream %s: ingest publish accepted (client %s, %s)",
        stream.id,
        client_id,
        "resumed" if resumed else "went live",
    )
    return _allow("resumed" if resumed else "live", stream)


def do_ingest_publish_done(*, stream_key: str, client_id: str) -> IngestResult:
    """The publisher went away (nginx ``on_publish_done``): start the reconnect grace.

    Only the active session counts: the done of a rejected duplicate session, or a
    late one of an older session, changes nothing.
    """
    now = _now()
    with transaction.atomic():
        stream = _locked_by_key(stream_key)
        if stream is None:
            return _reject("unknown stream key")
        if stream.status in (Status.ENDED, Status.CANCELLED):
            return _reject(f"stream is {stream.status}", stream)
        if stream.status != Status.LIVE or stream.ingest_client_id != client_id:
            return _allow("not the active publisher: ignored", stream)
        stream.ingest_client_id = None
        stream.ingest_seen_at = now
        stream.ingest_done_at = now
        stream.save(
            update_fields=["ingest_client_id", "ingest_seen_at", "ingest_done_at", "updated_at"]
        )
        heartbeats.revoke_on_commit(stream.stream_key)  # this publisher's heartbeats: 403
        _broadcast_ingest(stream, connected=False)
        if settings.STREAM_RECONNECT_GRACE_SECONDS > 0:
            _broadcast_state(stream)  # viewers see "the streamer is reconnecting…"
        else:
            _end(stream, now, reason="publisher left, no reconnect grace")
            return _allow("ended", stream)
    logger.info("stream %s: publisher left; reconnect grace started", stream.id)
    return _allow("grace started", stream)


def do_ingest_update(*, stream_key: str, client_id: str) -> IngestResult:
    """Heartbeat of a publisher (nginx ``on_update``), the database path. Rejecting it
    kicks the publisher: that is how ending the stream on the dashboard disconnects OBS.
    An allowed heartbeat leaves a lease that lets the next ones skip the database
    (``streams.heartbeats``: the fast path in ``streams.ingest``)."""
    now = _now()
    lease = heartbeats.prepare(stream_key)  # Redis, before the transaction
    seen = lease.seen if lease is not None else None
    with transaction.atomic():
        stream = _locked_by_key(stream_key)
        if stream is None:
            return _reject("unknown stream key")
        if not stream.streamer.account_is_active:
            # Kicks the publisher; its publish_done starts the reconnect grace.
            return _reject("streamer account is not active", stream)
        if stream.status != Status.LIVE:
            return _reject(f"stream is {stream.status}", stream)
        if _ingest_expired(stream, now, seen):
            _end(
                stream,
                _broadcast_stopped_at(stream, seen),
                reason="ingest silent longer than the grace period",
            )
            return _reject("stream ended: ingest silent", stream)
        if stream.ingest_client_id != client_id:
            return _reject("not the active publisher", stream)
        stream.ingest_seen_at = now
        stream.save(update_fields=["ingest_seen_at"])
        heartbeats.grant_on_commit(
            lease, stream_id=stream.id, user_id=stream.streamer_id, client_id=client_id, now=now
        )
    return _allow("heartbeat", stream)


# --------------------------------------------------------------------------- periodic / settle


def end_stale_streams(*, now: datetime | None = None) -> list[int]:
    """End ingest-driven live streams whose reconnect grace ran out, or whose ingest
    server went silent for longer than the grace period. Streams started by hand
    without any publish are left to their owner. Safe to run concurrently: each
    candidate is re-checked under its row lock."""
    now = now or _now()
    cutoff = now - _grace()
    candidates = list(
        LiveStream.objects.filter(status=Status.LIVE, ingest_seen_at__isnull=False)
        .filter(
            Q(ingest_client_id__isnull=True, ingest_done_at__lte=cutoff)
            | Q(ingest_client_id__isnull=False, ingest_seen_at__lte=cutoff)
        )
        .values_list("id", flat=True)
    )
    # The exact last callbacks (heartbeats on the fast path write only Redis); the
    # database's copy, never older than the grace allows while heartbeats flow, is
    # the fallback. Read before the transactions.
    seen = heartbeats.last_seen(candidates)
    ended = []
    for stream_id in candidates:
        with transaction.atomic():
            stream = (
                LiveStream.objects.select_for_update(of=("self",), skip_locked=True)
                .select_related("streamer")
                .filter(id=stream_id)
                .first()
            )
            last = seen.get(stream_id)
            if stream is None or not _ingest_expired(stream, now, last):
                continue
            _end(stream, _broadcast_stopped_at(stream, last), reason=_expiry_reason(stream))
            ended.append(stream_id)
    return ended


def settle_stream(*, stream_id: int) -> dict[str, object] | None:
    """Final bookkeeping of an ended stream (run by ``streams.tasks.settle_stream``).

    Idempotent; a missing or not-ended stream is left alone. Makes sure
    ``actual_end`` is set, persists the final viewer peak, then awards the last EXP
    minutes and the achievements.
    """
    with transaction.atomic():
        stream = (
            LiveStream.objects.select_for_update(of=("self",))
            .filter(id=stream_id, status=Status.ENDED)
            .first()
        )
        if stream is None:
            return None
        if stream.actual_end is None:
            stream.actual_end = _now()
            stream.save(update_fields=["actual_end", "updated_at"])
    # Recorded by the ingest? Its archive (streams.archives; later recordings re-run it).
    from streams.archives import enqueue_archive_if_recorded

    enqueue_archive_if_recorded(stream.id)
    # The final peak first: the peak-viewer achievements read it.
    persist_viewer_peak(stream_id=stream.id)
    presence.forget_viewer_peak(stream.id)
    settle_stream_gamification(stream_id=stream.id)
    return {
        "stream_id": stream.id,
        "actual_end": stream.actual_end.isoformat() if stream.actual_end else None,
    }
