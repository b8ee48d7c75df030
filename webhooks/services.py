"""Every change to webhooks: subscriptions, test events, and the outbox (SPEC §7a).

Emitting is a transactional outbox: ``emit`` inserts one ``webhook_deliveries`` row
per interested subscription in the caller's transaction, and only after that commits
is the delivery task enqueued (``transaction.on_commit``, robust). A change that rolls
back leaves no row; an enqueue that is lost (broker down at that moment) is found by
the periodic sweep (``webhooks.delivery``), so the event is late, never lost.

Cost when the owner has no subscription: one indexed ``INSERT … SELECT`` that inserts
nothing, and no after-commit work.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.exceptions import Forbidden, InvalidTransition, NotFound, ValidationFailed
from core.inputs import MAX_ID
from webhooks import event_types, ssrf
from webhooks.models import WebhookDelivery, WebhookSubscription

if TYPE_CHECKING:
    from accounts.models import User
    from donations.models import StreamDonation
    from streams.models import LiveStream

logger = logging.getLogger(__name__)

SECRET_BYTES = 32  # whsec_ + 43 URL-safe characters
# A subscription holds at most this many pending events. Past it (its receiver has
# been failing for a long time), a new event is recorded as given up at once, so the
# backlog — and the time to drain it — stays bounded.
MAX_BACKLOG = 5000
BACKLOG_FULL = "not sent: more than 5000 earlier events are still waiting"

# Transaction-level advisory lock per owner (this namespace | the owner's id): creating
# subscriptions is serialised per owner, so the limit holds under concurrent requests.
_CREATE_LOCK = 0x7768 << 48


# --------------------------------------------------------------------------- enqueue


def enqueue_delivery(subscription_id: int, *, countdown: float | None = None) -> None:
    """Ask a worker to drain the subscription's queue (now or after ``countdown``).
    A broker failure is logged: the periodic sweep enqueues it again."""
    from webhooks import tasks  # tasks import the delivery module, which imports this one

    try:
        tasks.deliver.apply_async((subscription_id,), countdown=countdown)
    except Exception:
        logger.warning(
            "could not enqueue webhook delivery for subscription %s; the sweep will",
            subscription_id,
            exc_info=True,
        )


def _enqueue_on_commit(subscription_ids: list[int]) -> None:
    for subscription_id in subscription_ids:
        transaction.on_commit(
            lambda sid=subscription_id: enqueue_delivery(sid),
            robust=True,
        )


# --------------------------------------------------------------------------- emit

_EMIT_SQL = """
INSERT INTO webhook_deliveries
    (subscription_id, event_id, event_type, payload, created_at, next_attempt_at,
     attempts, last_error, given_up_at)
SELECT s.id, %(event_id)s, %(type)s, %(payload)s::jsonb, %(now)s, %(now)s, 0,
       CASE WHEN backlog.full THEN %(full_error)s ELSE '' END,
       CASE WHEN backlog.full THEN %(now)s END
FROM webhook_subscriptions s
CROSS JOIN LATERAL (
    SELECT count(*) >= %(max)s AS full FROM (
        SELECT 1 FROM webhook_deliveries d
        WHERE d.subscription_id = s.id AND d.delivered_at IS NULL AND d.given_up_at IS NULL
        LIMIT %(max)s
    ) pending
) backlog
WHERE s.owner_id = %(owner)s AND s.active AND %(type)s = ANY(s.events)
RETURNING subscription_id, given_up_at IS NULL
"""


def emit(*, owner_id: int, event_type: str, data: dict[str, Any]) -> str | None:
    """Record ``event_type`` for every active subscription of ``owner_id`` that wants
    it, in the caller's transaction (call it inside the ``transaction.atomic()`` of the
    change it reports); delivery is enqueued after commit. Returns the event id, or
    ``None`` when no subscription wanted it."""
    if event_type not in event_types.EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    event_id = event_types.new_event_id()
    with connection.cursor() as cursor:
        cursor.execute(
            _EMIT_SQL,
            {
                "event_id": event_id,
                "type": event_type,
                "payload": json.dumps(data),
                "now": timezone.now(),
                "max": MAX_BACKLOG,
                "full_error": BACKLOG_FULL,
                "owner": owner_id,
            },
        )
        rows = cursor.fetchall()
    if not rows:
        return None
    for subscription_id, queued in rows:
        if not queued:
            logger.warning(
                "webhook subscription %s: backlog full, event %s given up",
                subscription_id,
                event_id,
            )
    _enqueue_on_commit([sid for sid, queued in rows if queued])
    return event_id


# The hook points: one call each, inside the transaction of the change.


def emit_stream_online(*, stream: LiveStream) -> None:
    """A stream went live for the first time (``scheduled → live``; a reconnect that
    resumes a live stream is not a new ``stream.online``). Caller holds the stream's
    row lock, ``stream.streamer`` loaded."""
    emit(
        owner_id=stream.streamer_id,
        event_type=event_types.STREAM_ONLINE,
        data=event_types.stream_data(stream),
    )


def emit_stream_offline(*, stream: LiveStream) -> None:
    """A stream ended. Caller holds the stream's row lock, ``stream.streamer`` loaded."""
    emit(
        owner_id=stream.streamer_id,
        event_type=event_types.STREAM_OFFLINE,
        data=event_types.stream_data(stream),
    )


def emit_donation_completed(*, donation: StreamDonation, streamer_id: int) -> None:
    """A donation was paid and counted (the moment its ``donation`` alert goes out)."""
    emit(
        owner_id=streamer_id,
        event_type=event_types.DONATION_COMPLETED,
        data=event_types.donation_data(donation),
    )


def emit_donation_refunded(*, donation: StreamDonation, refund_amount: Decimal) -> None:
    """A counted donation was refunded, in part or in full."""
    from streams.models import LiveStream

    streamer_id = LiveStream.objects.values_list("streamer_id", flat=True).get(
        id=donation.stream_id
    )
    emit(
        owner_id=streamer_id,
        event_type=event_types.DONATION_REFUNDED,
        data=event_types.refund_data(donation, refund_amount=refund_amount),
    )


# --------------------------------------------------------------------------- subscriptions


@dataclass(frozen=True)
class CreatedSubscription:
    subscription: WebhookSubscription
    secret: str  # shown once, in the create response


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(SECRET_BYTES)


def _clean_events(events: object) -> list[str]:
    allowed = ", ".join(event_types.EVENT_TYPES)
    if not isinstance(events, list) or not events:
        raise ValidationFailed(
            f"events: choose at least one of {allowed}.", extra={"field": "events"}
        )
    if len(events) > 20 or not all(isinstance(e, str) for e in events):
        raise ValidationFailed(
            f"events: a list of event types ({allowed}).", extra={"field": "events"}
        )
    unknown = [e for e in events if e not in event_types.EVENT_TYPES]
    if unknown:
        raise ValidationFailed(
            f"events: unknown event type {unknown[0][:40]!r}; choose from {allowed}.",
            extra={"field": "events"},
        )
    return [e for e in event_types.EVENT_TYPES if e in events]  # de-duplicated, in order


def check_create_subscription(*, owner: User, url: object, events: object) -> CreatedSubscription:
    """Validate the events and the URL (format, then the address policy: this
    resolves the host), then store the subscription with a new secret."""
    clean_events = _clean_events(events)
    _check_limit(owner)  # before the DNS lookup; do_create_subscription checks for real
    try:
        # Deliveries check again (and connect to the address checked) before every attempt.
        target = ssrf.check_url(url)
    except ssrf.UrlRefused as exc:
        raise ValidationFailed(exc.message, code=exc.code, extra={"field": "url"}) from None
    created = do_create_subscription(owner=owner, url=str(url).strip(), events=clean_events)
    logger.info(
        "webhook subscription %s created by user %s for host %s",
        created.subscription.id,
        owner.id,
        target.url.host,  # never the whole URL: its query may hold a token
    )
    return created


def _check_limit(owner: User) -> None:
    limit = settings.WEBHOOK_MAX_SUBSCRIPTIONS
    if WebhookSubscription.objects.filter(owner=owner).count() >= limit:
        raise InvalidTransition(
            f"You have {limit} webhooks already; delete one to add another.",
            code="webhook_limit_reached",
        )


def do_create_subscription(*, owner: User, url: str, events: list[str]) -> CreatedSubscription:
    """Store a subscription (trusted input), at most ``WEBHOOK_MAX_SUBSCRIPTIONS`` per
    owner: the count is taken under a per-owner advisory lock in the same transaction."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CREATE_LOCK | owner.id])
        _check_limit(owner)
        secret = new_secret()
        subscription = WebhookSubscription.objects.create(
            owner=owner, url=url, events=events, secret=secret
        )
    return CreatedSubscription(subscription, secret)


def access_subscription(user: User, subscription_id: int) -> WebhookSubscription:
    """The subscription, if ``user`` owns it (404 unknown, 403 someone else's)."""
    subscription = (
        WebhookSubscription.objects.filter(id=subscription_id).first()
        if 0 < subscription_id <= MAX_ID
        else None
    )
    if subscription is None:
        raise NotFound("No such webhook.")
    if subscription.owner_id != user.id:
        raise Forbidden("This webhook is not yours.")
    return subscription


def do_delete_subscription(*, user: User, subscription_id: int) -> None:
    """Delete the subscription and its delivery log: pending events are not sent (an
    attempt already in flight finishes; its outcome is not recorded)."""
    with transaction.atomic():
        subscription = access_subscription(user, subscription_id)
        WebhookDelivery.objects.filter(subscription_id=subscription.id).delete()
        subscription.delete()
    logger.info("webhook subscription %s deleted by user %s", subscription_id, user.id)


def do_send_test_event(*, user: User, subscription_id: int) -> WebhookDelivery:
    """Queue a ``webhook.test`` event for this one subscription, whatever events it
    asked for. It is delivered like any other: signed, in order (after the events
    already waiting), retried on failure. The caller rate-limits this."""
    with transaction.atomic():
        subscription = access_subscription(user, subscription_id)
        if not subscription.active:
            raise InvalidTransition(
                "This webhook is switched off; ask the operator to switch it on.",
                code="webhook_inactive",
            )
        now = timezone.now()
        delivery = WebhookDelivery.objects.create(
            subscription=subscription,
            event_id=event_types.new_event_id(),
            event_type=event_types.TEST,
            payload=event_types.test_data(subscription_id=subscription.id),
            created_at=now,
            next_attempt_at=now,
        )
        _enqueue_on_commit([subscription.id])
    return delivery
