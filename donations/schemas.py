"""OpenAPI shapes of the donation and overlay payloads, for the schema only."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from donations.models import StreamDonation


class DonationCreated(serializers.Serializer):
    """``POST /api/streams/{id}/donations``: confirm ``client_secret`` with Stripe.js."""

    id = serializers.IntegerField()
    status = serializers.ChoiceField(
        choices=StreamDonation.PaymentStatus.choices,
        help_text="`pending` when created; a replayed request shows the current status.",
    )
    amount = serializers.DecimalField(max_digits=10, decimal_places=2, coerce_to_string=True)
    currency = serializers.CharField()
    client_secret = serializers.CharField(help_text="The PaymentIntent's client secret.")
    publishable_key = serializers.CharField(help_text="The Stripe publishable key.")


class Overlay(serializers.Serializer):
    token = serializers.CharField(help_text="Secret: whoever has it can show the alerts.")
    alerts_url = serializers.URLField(help_text="The OBS browser-source URL.")
    goal_url = serializers.URLField(help_text="The donation goal's OBS browser-source URL.")


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string"}]})
class IntegerOrStringField(serializers.Field):
    pass


class DonationAlert(serializers.Serializer):
    """The ``donation`` event sent to the overlays (SPEC §7, ``realtime.event_types``)."""

    type = serializers.CharField(help_text='Always "donation".')
    id = IntegerOrStringField(help_text="The donation id; `test-…` for a test alert.")
    display_name = serializers.CharField(help_text='"Anonymous" when anonymous.')
    amount = serializers.DecimalField(max_digits=10, decimal_places=2, coerce_to_string=True)
    currency = serializers.CharField()
    message = serializers.CharField()
    created_at = serializers.DateTimeField()
    test = serializers.BooleanField(required=False, help_text="A test alert: no money moved.")
    replay = serializers.BooleanField(required=False, help_text="Re-sent by the owner.")


MONEY = {"max_digits": 12, "decimal_places": 2, "coerce_to_string": True}


class PublicGoal(serializers.Serializer):
    """A stream's running donation goal in the public stream payload (SPEC §7)."""

    title = serializers.CharField(help_text="1-100 characters.")
    amount = serializers.DecimalField(**MONEY, help_text='The target, e.g. "50000.00".')
    raised = serializers.DecimalField(
        **MONEY,
        help_text="Counted donations completed since the goal was set, net of refunds"
        " (may pass the target).",
    )
    version = serializers.IntegerField(
        help_text="Grows with every change of the goal; drop `goal` events not above it."
    )


class GoalInput(serializers.Serializer):
    """``PUT /api/streams/{id}/goal`` (documents the body; the service validates it)."""

    title = serializers.CharField(help_text="Stripped; 1-100 characters.")
    amount = serializers.CharField(
        help_text='Decimal string in major units, e.g. "50000" (an integer is accepted'
        " too); more than 0, at most the currency's decimals."
    )
    reset = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Start the running goal over from 0 now (else an edit keeps its progress).",
    )


class Goal(serializers.Serializer):
    """The goal as its owner sees it (``donations.goals.goal_payload``)."""

    stream_id = serializers.IntegerField()
    title = serializers.CharField()
    amount = serializers.DecimalField(**MONEY)
    raised = serializers.DecimalField(**MONEY)
    currency = serializers.CharField()
    version = serializers.IntegerField()
    set_at = serializers.DateTimeField(help_text="Donations completed from here on count.")
    reached = serializers.BooleanField(help_text="raised ≥ amount.")
