"""Celery tasks of outbound webhooks (names are interfaces). Ids in, a service call inside."""

from __future__ import annotations

from celery import shared_task

from webhooks import delivery


@shared_task(
    name="webhooks.tasks.deliver",
    acks_late=True,
    soft_time_limit=50,
    time_limit=60,
)
def deliver(subscription_id: int) -> str:
    """Send the subscription's due events in order (enqueued after the commit that
    recorded them, for retries, and by the sweep). Any number may run at once: one
    drains, the others return ``busy``. A deleted subscription is ``idle``."""
    return delivery.deliver_subscription(subscription_id=subscription_id)


@shared_task(
    name="webhooks.tasks.sweep_deliveries",
    acks_late=True,
    soft_time_limit=25,
    time_limit=30,
)
def sweep_deliveries() -> int:
    """Beat, every 30 s: enqueue a drainer for each subscription whose next event is
    due (retries, lost enqueues, events a killed worker did not finish) and purge old
    log rows. Safe at any time, any number of times, concurrently."""
    return delivery.sweep()
