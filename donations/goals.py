"""Donation goals (SPEC §7 "Donation goal"): every state change of a stream's goal.

What ``raised`` means: the stream's counted donations (completed, not flagged; the
rule of ``live_streams.total_donations``) whose ``completed_at`` is at or after the
goal's ``set_at``, net of their refunds. It is kept incrementally, in the same
transaction that completes or refunds a donation (``count_toward_goal``, called by
``donations.services``), so it is exact under concurrent, duplicated or reordered
webhooks exactly as the stream total is.

Setting and editing (``PUT /api/streams/{id}/goal``):

- no running goal (never set, or cleared) → a new goal, ``raised`` 0, ``set_at`` now;
- a running goal → an *edit*: the title and target change, the progress stays (what
  Streamlabs does when a goal's target is edited); ``reset: true`` starts the goal
  over from 0 at this moment instead;
- ``DELETE`` clears it (idempotent); a later ``PUT`` starts from 0.

Every change adds 1 to the goal's ``version`` and, after commit, sends a ``goal``
event to the stream room, the owner's dashboard and the streamer's overlays (a room
event also refreshes the room's cached join snapshot, ``realtime.snapshots``).

Locking: the stream's row first, then the goal's — the order the donation
completion and refund take (they raise the stream total, then the goal), so none of
them can deadlock. The goal's ``set_at`` is taken *after* the locks are held: a
completion that committed before has an earlier ``completed_at`` and does not count,
one that commits after sees the new ``set_at`` in its ``UPDATE … WHERE``.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from core.exceptions import (
    Forbidden,
    InvalidTransition,
    NotAuthenticated,
    NotFound,
    ValidationFailed,
)
from donations import stripe_gateway
from donations.amounts import parse_amount
from donations.models import StreamGoal
from donations.selectors import goal_event
from realtime import groups
from realtime.events import send_event_on_commit
from streams.models import LiveStream

TITLE_MAX_LENGTH = 100
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
# A goal can never be larger than a stream total can hold (DECIMAL(10,2)).
_TOTAL_FIELD = LiveStream._meta.get_field("total_donations")
AMOUNT_CEILING = Decimal(10) ** (_TOTAL_FIELD.max_digits - _TOTAL_FIELD.decimal_places) - (
    Decimal(1).scaleb(-_TOTAL_FIELD.decimal_places)
)
# ... nor more than this many of the largest donation allowed (a typo guard where lower).
MAX_DONATIONS_PER_GOAL = 1000
OPEN_STATUSES = (LiveStream.Status.SCHEDULED, LiveStream.Status.LIVE)


def maximum_goal_amount(currency: str) -> Decimal:
    largest_donation = min(
        Decimal(settings.DONATION_MAX_AMOUNT), stripe_gateway.maximum_amount(currency)
    )
    step = Decimal(1).scaleb(-stripe_gateway.input_decimals(currency))
    ceiling = min(AMOUNT_CEILING, largest_donation * MAX_DONATIONS_PER_GOAL)
    return ceiling.quantize(step, rounding=ROUND_DOWN).quantize(Decimal("0.01"))


# --------------------------------------------------------------------------- input


def _parse_title(raw: Any) -> str:
    if raw is None:
        raise ValidationFailed("title is required.", code="title_required")
    if not isinstance(raw, str):
        raise ValidationFailed("title must be a string.", code="invalid_title")
    title = CONTROL_CHARACTERS.sub("", raw).strip()
    if not title:
        raise ValidationFailed("title must not be empty.", code="title_required")
    if len(title) > TITLE_MAX_LENGTH:
        raise ValidationFailed(
            f"title may be at most {TITLE_MAX_LENGTH} characters.", code="title_too_long"
        )
    return title


def _parse_amount(raw: Any, currency: str) -> Decimal:
    amount = parse_amount(raw, currency, example='"50000" or "500.00"')
    if amount <= 0:
        raise ValidationFailed("amount must be more than 0.", code="amount_too_small")
    maximum = maximum_goal_amount(currency)
    if amount > maximum:
        raise ValidationFailed(
            f"The largest goal is {maximum} {currency.upper()}.",
            code="amount_too_large",
            extra={"maximum": f"{maximum:.2f}"},
        )
    return amount.quantize(Decimal("0.01"))


def _access_stream(user: User | None, stream_id: int) -> LiveStream:
    if user is None or not user.is_authenticated:
        raise NotAuthenticated("Log in first.")
    stream = LiveStream.objects.filter(id=stream_id).only("id", "streamer_id").first()
    if stream is None:
        raise NotFound("Stream not found.")
    if stream.streamer_id != user.id:
        raise Forbidden("Only the stream's owner may set its goal.")
    return stream


def _lock_open_stream(stream_id: int) -> LiveStream:
    """The stream's row, locked; only while it is scheduled or live (else 409).
    Caller is inside ``transaction.atomic()``."""
    stream = (
        LiveStream.objects.select_for_update(of=("self",))
        .only("id", "streamer_id", "status")
        .filter(id=stream_id)
        .first()
    )
    if stream is None:
        raise NotFound("Stream not found.")
    if stream.status not in OPEN_STATUSES:
        raise InvalidTransition(
            f"This stream is {stream.status}: its goal can no longer change.",
            code="stream_closed",
            extra={"status": stream.status},
        )
    return stream


def _broadcast(goal: StreamGoal, streamer_id: int) -> None:
    send_event_on_commit(
        [
            groups.stream_room(goal.stream_id),
            groups.stream_dashboard(goal.stream_id),
            groups.streamer_overlays(streamer_id),
        ],
        goal_event(goal),
    )


# --------------------------------------------------------------------------- set / clear


def check_set_goal(
    *, user: User | None, stream_id: int, title: Any, amount: Any, reset: Any = False
) -> StreamGoal:
    """The owner sets (or edits) the stream's goal: 401 / 404 / 403, then the input
    (400), then the stream's state (409 ``stream_closed`` once ended or cancelled)."""
    stream = _access_stream(user, stream_id)
    currency = settings.DONATION_CURRENCY
    clean_title = _parse_title(title)
    clean_amount = _parse_amount(amount, currency)
    if not isinstance(reset, bool):
        raise ValidationFailed("reset must be true or false.", code="invalid_reset")
    return do_set_goal(stream_id=stream.id, title=clean_title, amount=clean_amount, reset=reset)


def do_set_goal(*, stream_id: int, title: str, amount: Decimal, reset: bool) -> StreamGoal:
    """Trusted write. In one transaction, holding the stream's and then the goal's row
    lock: a new goal (none running, or ``reset``) starts at 0 with ``set_at`` now; a
    running goal keeps ``raised`` and ``set_at`` and takes the new title and amount.
    ``version`` + 1 unless nothing changed. After commit: the ``goal`` event."""
    with transaction.atomic():
        stream = _lock_open_stream(stream_id)
        goal = StreamGoal.objects.select_for_update().filter(stream_id=stream_id).first()
        now = timezone.now()  # after the locks: see the module docstring
        if goal is None:
            goal = StreamGoal.objects.create(
                stream_id=stream_id,
                title=title,
                amount=amount,
                raised=Decimal("0.00"),
                set_at=now,
                version=1,
                updated_at=now,
            )
            _broadcast(goal, stream.streamer_id)
            return goal
        starts_over = reset or goal.cleared_at is not None
        if not starts_over and goal.title == title and goal.amount == amount:
            return goal  # the same goal again: nothing changes, nothing is sent
        goal.title = title
        goal.amount = amount
        if starts_over:
            goal.raised = Decimal("0.00")
            goal.set_at = now
            goal.cleared_at = None
        goal.version += 1
        goal.updated_at = now
        goal.save(
            update_fields=[
                "title",
                "amount",
                "raised",
                "set_at",
                "cleared_at",
                "version",
                "updated_at",
            ]
        )
        _broadcast(goal, stream.streamer_id)
        return goal


def check_clear_goal(*, user: User | None, stream_id: int) -> bool:
    """The owner clears the stream's goal (401 / 404 / 403 / 409 as for setting it).
    Clearing a stream without a running goal changes nothing (``False``)."""
    stream = _access_stream(user, stream_id)
    return do_clear_goal(stream_id=stream.id)


def do_clear_goal(*, stream_id: int) -> bool:
    """Trusted write: the running goal is cleared (``version`` + 1, the ``goal``
    event with nulls after commit). ``False`` when there was none."""
    with transaction.atomic():
        stream = _lock_open_stream(stream_id)
        goal = (
            StreamGoal.objects.select_for_update()
            .filter(stream_id=stream_id, cleared_at__isnull=True)
            .first()
        )
        if goal is None:
            return False
        now = timezone.now()
        goal.cleared_at = now
        goal.version += 1
        goal.updated_at = now
        goal.save(update_fields=["cleared_at", "version", "updated_at"])
        _broadcast(goal, stream.streamer_id)
        return True


# --------------------------------------------------------------------------- donations

_COUNT_SQL = (
    "UPDATE donations_stream_goals g"
    " SET raised = g.raised + %s, version = g.version + 1, updated_at = %s"
    " FROM live_streams s"
    " WHERE g.stream_id = %s AND s.id = g.stream_id"
    " AND g.cleared_at IS NULL AND g.set_at <= %s"
    " RETURNING g.id, g.title, g.amount, g.raised, g.version, g.set_at, s.streamer_id"
)


def count_toward_goal(*, stream_id: int, delta: Decimal, completed_at: datetime | None) -> None:
    """Add ``delta`` (a completion's counted amount, or minus a refund's newly
    refunded part) to the stream's running goal if the donation counts for it
    (``completed_at`` at or after the goal's ``set_at``), and send the ``goal`` event
    after commit. One statement; nothing when there is no such goal.

    Caller: the transaction that completes or refunds the donation, holding its row
    lock, after changing the stream total (so the stream's row lock is held too).
    """
    if not delta or completed_at is None:
        return
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_COUNT_SQL, [delta, now, stream_id, completed_at])
        row = cursor.fetchone()
    if row is None:
        return
    goal_id, title, amount, raised, version, set_at, streamer_id = row
    goal = StreamGoal(
        id=goal_id,
        stream_id=stream_id,
        title=title,
        amount=amount,
        raised=raised,
        version=version,
        set_at=set_at,
        updated_at=now,
    )
    _broadcast(goal, streamer_id)


def goal_payload(goal: StreamGoal) -> dict[str, Any]:
    """``PUT /api/streams/{id}/goal``'s answer: the goal as the owner sees it."""
    event = goal_event(goal)
    return {
        "stream_id": goal.stream_id,
        "title": event["title"],
        "amount": event["amount"],
        "raised": event["raised"],
        "currency": event["currency"],
        "version": goal.version,
        "set_at": goal.set_at.isoformat(),
        "reached": goal.raised >= goal.amount,
    }
