"""Outbound webhooks (SPEC §7a): subscriptions and their outbox.

``webhook_deliveries`` is a transactional outbox: a row is inserted in the same
transaction as the change it reports (``webhooks.services.emit``), so a change that
rolls back reports nothing and a committed one is never lost. Each row is one event
for one subscription; Celery sends the rows of a subscription in ``id`` order and
records the outcome on the row itself (the delivery log).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Now

# A delivery is pending while it was neither delivered nor given up.
PENDING = models.Q(delivered_at__isnull=True, given_up_at__isnull=True)


class WebhookSubscription(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_subscriptions"
    )
    url = models.CharField(max_length=500)
    events = ArrayField(models.CharField(max_length=40))
    # Signs every delivery (HMAC-SHA256). Shown to the owner once, when created; never
    # in lists, logs, the admin or error messages.
    secret = models.CharField(max_length=100)
    # Off (admin only): no new events are recorded, pending ones wait.
    active = models.BooleanField(default=True, db_default=True)
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())

    class Meta:
        db_table = "webhook_subscriptions"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(events__len__gt=0), name="webhook_subs_events_not_empty"
            ),
        ]

    def __str__(self) -> str:
        return f"Webhook {self.pk} of user {self.owner_id}"


class WebhookDelivery(models.Model):
    """One event for one subscription, and how sending it went."""

    # Indexed by the composite indexes below (subscription, id).
    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    # The event's id (``evt_`` + 32 hex digits): the same on every retry and for every
    # subscription that receives the event, so receivers can de-duplicate.
    event_id = models.CharField(max_length=40)
    event_type = models.CharField(max_length=40)
    # The event's ``data`` object (public-safe fields only).
    payload = models.JSONField()
    created_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0, db_default=0)
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True, default="", db_default="")
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    given_up_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "webhook_deliveries"
        indexes = [
            # The delivery log, latest first.
            models.Index(fields=["subscription", "id"], name="idx_webhook_deliv_log"),
            # The next one due per subscription, in order (the head of its queue).
            models.Index(
                fields=["subscription", "id"], condition=PENDING, name="idx_webhook_deliv_pending"
            ),
            # Purging the finished log.
            models.Index(fields=["created_at"], name="idx_webhook_deliv_created"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "event_id"], name="uniq_webhook_deliv_event"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} → webhook {self.subscription_id}"

    @property
    def state(self) -> str:
        if self.delivered_at is not None:
            return "delivered"
        if self.given_up_at is not None:
            return "given_up"
        return "pending"
