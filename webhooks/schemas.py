"""OpenAPI shapes of the webhook payloads, for the schema only."""

from __future__ import annotations

from rest_framework import serializers

from webhooks import event_types


class Webhook(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField()
    events = serializers.ListField(child=serializers.ChoiceField(choices=event_types.EVENT_TYPES))
    active = serializers.BooleanField(
        help_text="Switched off by the operator: no new events, pending ones wait."
    )
    created_at = serializers.DateTimeField()


class WebhookCreated(Webhook):
    secret = serializers.CharField(
        help_text="Signs every delivery (`Eldonia-Signature`). Shown only in this response:"
        " store it now."
    )


class WebhookList(serializers.Serializer):
    items = Webhook(many=True)


class WebhookDelivery(serializers.Serializer):
    id = serializers.IntegerField(help_text="The log row; `before=` pages by it.")
    event_id = serializers.CharField(help_text="`evt_…`, the same on every retry.")
    type = serializers.ChoiceField(choices=event_types.ALL_TYPES)
    state = serializers.ChoiceField(choices=["pending", "delivered", "given_up"])
    attempts = serializers.IntegerField()
    last_status = serializers.IntegerField(
        allow_null=True, help_text="The receiver's HTTP status at the last attempt."
    )
    last_error = serializers.CharField(
        allow_blank=True, help_text="Why the last attempt failed (timeout, HTTP 500, …)."
    )
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    next_attempt_at = serializers.DateTimeField(
        allow_null=True, help_text="The next try, while pending."
    )
    delivered_at = serializers.DateTimeField(allow_null=True)
    given_up_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class WebhookDeliveryPage(serializers.Serializer):
    items = WebhookDelivery(many=True)
    next_before = serializers.IntegerField(
        allow_null=True, help_text="`before=` for the next page; null on the last."
    )
