"""Webhook test data and the environment of the real worker processes."""

from __future__ import annotations

from django.db import transaction

from tests.support import factories
from tests.support.servers import wait_until
from webhooks import event_types, services
from webhooks.models import WebhookDelivery, WebhookSubscription

ALL_EVENTS = list(event_types.EVENT_TYPES)

# Workers retry quickly and time out sooner in tests; the receiver runs on 127.0.0.1.
WORKER_ENV = {
    "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
    "WEBHOOK_BACKOFF_BASE_SECONDS": "0.3",
    "WEBHOOK_BACKOFF_MAX_SECONDS": "2",
    "WEBHOOK_TIMEOUT_SECONDS": "2",
}


def subscribe(owner=None, *, url: str, events: list[str] | None = None) -> WebhookSubscription:
    """A subscription made the way the API makes it (the URL is checked against the
    test process's WEBHOOK_ALLOWED_HOSTS)."""
    owner = owner or factories.make_user()
    created = services.check_create_subscription(owner=owner, url=url, events=events or ALL_EVENTS)
    return created.subscription


def emit_test_events(subscription: WebhookSubscription, count: int) -> list[str]:
    """``count`` events for the subscription's owner, one committed transaction each
    (each enqueues its delivery after commit). Returns their ids, in order."""
    ids = []
    for n in range(count):
        with transaction.atomic():
            event_id = services.emit(
                owner_id=subscription.owner_id,
                event_type=event_types.STREAM_ONLINE,
                data={"n": n},
            )
        ids.append(event_id)
    return ids


def delivery(event_id: str) -> WebhookDelivery:
    return WebhookDelivery.objects.get(event_id=event_id)


def wait_delivered(event_id: str, timeout: float = 60) -> WebhookDelivery:
    return wait_until(
        lambda: WebhookDelivery.objects.filter(
            event_id=event_id, delivered_at__isnull=False
        ).first(),
        f"event {event_id} delivered",
        timeout=timeout,
    )
