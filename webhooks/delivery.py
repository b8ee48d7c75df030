"""Sending the outbox (SPEC §7a): in order per subscription, at least once, with
exponential backoff for 24 h. Run by ``webhooks.tasks`` on Celery workers.

**One drainer per subscription.** ``deliver_subscription`` takes a PostgreSQL
*session* advisory lock on the subscription (``pg_try_advisory_lock``), so of any
number of workers exactly one sends a subscription's events at a time; the others
return at once (``"busy"``). No database transaction is open during an HTTP attempt:
the lock belongs to the connection, and PostgreSQL drops it when the connection ends,
so a killed worker never leaves a subscription locked. (This needs session-level
connections: a transaction-pooling PgBouncer in front of PostgreSQL would break it.)

**In order.** The drainer sends the *head* of the queue — the subscription's oldest
row that is neither delivered nor given up — and moves on only once it succeeded
(2xx) or was given up. A failed head is retried after ``backoff(attempts)``
(``WEBHOOK_BACKOFF_BASE_SECONDS`` x 2^n, at most ``WEBHOOK_BACKOFF_MAX_SECONDS``); the
events behind it wait. A head whose next retry would fall later than
``WEBHOOK_RETRY_WINDOW_SECONDS`` (24 h) after the event is given up, and so is any
event still waiting when its 24 h are over (``given_up_at``; ``last_error`` says why).

**At least once.** The outcome is written after the attempt; a worker that dies in
between leaves the row pending, and it is sent again (same event id). Short retries
are enqueued with a countdown; longer ones, lost enqueues and dead workers are picked
up by ``sweep``, which beat runs every 30 s.

Cost per attempt: one query for the head, the HTTP attempt, one conditional
``UPDATE`` (``… WHERE delivered_at IS NULL AND given_up_at IS NULL``, so a deleted
subscription or a concurrent give-up is never overwritten).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import F
from django.utils import timezone

from core.metrics import WEBHOOK_DELIVERIES
from webhooks import event_types, sender
from webhooks.models import PENDING, WebhookDelivery
from webhooks.services import enqueue_delivery

logger = logging.getLogger(__name__)

# Session advisory lock per subscription: this namespace | the subscription's id.
_DRAIN_LOCK = 0x7764 << 48
# One task run sends for at most this long, then hands over to a new task (so the
# Celery time limits never cut a long backlog short).
DRAIN_BUDGET_SECONDS = 30.0
# Retries due within this many seconds are enqueued with a countdown; later ones are
# found by the sweep (which runs every SWEEP_INTERVAL_SECONDS).
COUNTDOWN_MAX_SECONDS = 60.0
SWEEP_INTERVAL_SECONDS = 30.0
# Delivered and given-up rows are deleted this long after the event.
LOG_RETENTION = timedelta(days=30)
PURGE_BATCH = 5000
EXPIRED = "not delivered within the retry window"


def _window() -> timedelta:
    return timedelta(seconds=settings.WEBHOOK_RETRY_WINDOW_SECONDS)


def backoff(attempts: int) -> float:
    """Seconds before the next try after ``attempts`` failed ones (1 → BASE)."""
    exponent = min(max(attempts - 1, 0), 40)
    return min(
        settings.WEBHOOK_BACKOFF_BASE_SECONDS * 2**exponent,
        settings.WEBHOOK_BACKOFF_MAX_SECONDS,
    )


@contextmanager
def _drain_lock(subscription_id: int) -> Iterator[bool]:
    key = _DRAIN_LOCK | subscription_id
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        held = bool(cursor.fetchone()[0])
    try:
        yield held
    finally:
        if held:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
            except DatabaseError:
                # The connection is broken: closing it ends the session and its lock.
                logger.warning("could not release webhook lock %s", subscription_id)
                connection.close()


def _head(subscription_id: int) -> WebhookDelivery | None:
    return (
        WebhookDelivery.objects.filter(PENDING, subscription_id=subscription_id)
        .select_related("subscription")
        .order_by("id")
        .first()
    )


def _count(event_type: str, outcome: str) -> None:
    label = event_type if event_type in event_types.ALL_TYPES else "other"
    WEBHOOK_DELIVERIES.labels(label, outcome).inc()


def _give_up(delivery: WebhookDelivery, now: datetime) -> None:
    WebhookDelivery.objects.filter(PENDING, id=delivery.id).update(
        given_up_at=now, last_error=delivery.last_error or EXPIRED
    )
    _count(delivery.event_type, "given_up")
    logger.warning(
        "webhook event %s (%s) to subscription %s given up after %d attempts",
        delivery.event_id,
        delivery.event_type,
        delivery.subscription_id,
        delivery.attempts,
    )


def _attempt(delivery: WebhookDelivery) -> float | None:
    """Send the head once and record the outcome. ``None`` when the queue may move on
    (delivered, given up, or no longer pending), else the seconds until the head is
    due again."""
    subscription = delivery.subscription
    body = event_types.body(
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        created_at=delivery.created_at,
        data=delivery.payload,
    )
    outcome = sender.post(
        subscription.url,
        secret=subscription.secret,
        body=body,
        headers={"Eldonia-Event-Id": delivery.event_id, "Eldonia-Event-Type": delivery.event_type},
    )
    now = timezone.now()
    fields: dict[str, object] = {
        "attempts": F("attempts") + 1,
        "last_status": outcome.status,
        "last_error": outcome.error,
        "last_attempt_at": now,
    }
    delay = None
    if outcome.ok:
        fields["delivered_at"] = now
        result = "delivered"
    else:
        delay = backoff(delivery.attempts + 1)
        retry_at = now + timedelta(seconds=delay)
        if retry_at >= delivery.created_at + _window():
            fields["given_up_at"] = now
            result = "given_up"
        else:
            fields["next_attempt_at"] = retry_at
            result = "refused" if outcome.refused else "failed"
    updated = WebhookDelivery.objects.filter(PENDING, id=delivery.id).update(**fields)
    _count(delivery.event_type, result)
    if result != "delivered":
        logger.info(
            "webhook event %s to subscription %s: attempt %d %s (%s)",
            delivery.event_id,
            delivery.subscription_id,
            delivery.attempts + 1,
            result,
            outcome.error,
        )
    if outcome.ok or not updated or result == "given_up" or delay is None:
        return None
    return delay


def _drain(subscription_id: int, budget: float) -> tuple[str, float | None]:
    """(what stopped it, seconds after which a new drainer should be enqueued)."""
    with _drain_lock(subscription_id) as held:
        if not held:
            return "busy", None
        started = time.monotonic()
        while True:
            head = _head(subscription_id)
            if head is None:
                return "idle", None
            if not head.subscription.active:
                return "inactive", None
            now = timezone.now()
            if now >= head.created_at + _window():
                _give_up(head, now)
                continue
            if head.next_attempt_at > now:
                return "waiting", None
            if time.monotonic() - started > budget:
                return "handed_over", 0.0
            retry_in = _attempt(head)
            if retry_in is not None:
                return "retrying", retry_in if retry_in <= COUNTDOWN_MAX_SECONDS else None


def _head_due(subscription_id: int) -> bool:
    head = _head(subscription_id)
    return head is not None and head.subscription.active and head.next_attempt_at <= timezone.now()


def deliver_subscription(*, subscription_id: int, budget: float = DRAIN_BUDGET_SECONDS) -> str:
    """Send the subscription's due events in order until one fails, none is due, or
    the budget is spent. Returns what stopped it: ``idle`` (nothing pending),
    ``waiting`` (the head waits for its retry), ``retrying`` (the head just failed),
    ``busy`` (another worker drains it), ``inactive``, ``handed_over``."""
    result, again_in = _drain(subscription_id, budget)
    # An event committed while we were finishing may have seen our lock and left it to
    # us ("busy"): look once more after releasing it.
    while result == "idle" and _head_due(subscription_id):
        result, again_in = _drain(subscription_id, budget)
    if again_in is not None:  # enqueued only now, after the lock is released
        enqueue_delivery(subscription_id, countdown=again_in or None)
    return result


# --------------------------------------------------------------------------- sweep

_DUE_SQL = """
SELECT head.subscription_id FROM (
    SELECT DISTINCT ON (d.subscription_id) d.subscription_id, d.next_attempt_at, d.created_at
    FROM webhook_deliveries d
    WHERE d.delivered_at IS NULL AND d.given_up_at IS NULL
    ORDER BY d.subscription_id, d.id
) head
JOIN webhook_subscriptions s ON s.id = head.subscription_id AND s.active
WHERE head.next_attempt_at <= %(now)s OR head.created_at <= %(expired)s
ORDER BY head.subscription_id
LIMIT %(limit)s
"""

_PURGE_SQL = """
DELETE FROM webhook_deliveries WHERE id IN (
    SELECT id FROM webhook_deliveries
    WHERE created_at < %(cutoff)s AND (delivered_at IS NOT NULL OR given_up_at IS NOT NULL)
    LIMIT %(batch)s
)
"""


def subscriptions_due(*, limit: int = 10000) -> list[int]:
    """Subscriptions whose head is due (or past its window): they need a drainer."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_DUE_SQL, {"now": now, "expired": now - _window(), "limit": limit})
        return [row[0] for row in cursor.fetchall()]


def purge_finished(*, now: datetime | None = None) -> int:
    """Delete one batch of delivered / given-up rows older than ``LOG_RETENTION``."""
    cutoff = (now or timezone.now()) - LOG_RETENTION
    with connection.cursor() as cursor:
        cursor.execute(_PURGE_SQL, {"cutoff": cutoff, "batch": PURGE_BATCH})
        return cursor.rowcount


def sweep() -> int:
    """Enqueue a drainer for every subscription with a due head; purge old log rows.
    Safe at any time, any number of times, concurrently (drainers lock)."""
    due = subscriptions_due()
    for subscription_id in due:
        enqueue_delivery(subscription_id)
    purge_finished()
    return len(due)
