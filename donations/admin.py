"""Donations, the ledger, processed Stripe events and overlay tokens in the admin.

Money moves only through ``donations.services`` (webhooks): donations cannot be added
or deleted here and their money columns are read-only (a donation's message and
display name stay editable, for moderation); ledger rows and processed Stripe events
are read-only (deleting an event row would let a redelivery count twice).

An overlay token is a secret: the admin never shows it, only its owner, its dates and
the first characters of its SHA-256 digest (enough to match a log line). "Rotate
overlay token" replaces it (``do_rotate_overlay_token``: open overlays are closed).
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from donations.models import (
    OverlayToken,
    StreamDonation,
    StreamGoal,
    StripeEvent,
    Transaction,
)
from donations.services import do_rotate_overlay_token

DIGEST_PREFIX_LENGTH = 8


class ReadOnlyAdmin(admin.ModelAdmin):
    """Listed and viewable; never added, edited or deleted here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(StreamDonation)
class StreamDonationAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "stream",
        "donor",
        "amount",
        "currency",
        "payment_status",
        "flag_reason",
        "amount_refunded",
        "is_anonymous",
        "created_at",
    )
    list_filter = ("payment_status", "flag_reason", "is_anonymous")
    search_fields = ("stream__title", "donor__username", "message")
    list_select_related = ("stream", "donor")
    fields = (
        "stream",
        "donor",
        "display_name",
        "message",
        "is_anonymous",
        "amount",
        "currency",
        "payment_status",
        "payment_intent_id",
        "flag_reason",
        "failure_code",
        "amount_refunded",
        "created_at",
        "completed_at",
        "refunded_at",
    )
    readonly_fields = (
        "stream",
        "donor",
        "amount",
        "currency",
        "payment_status",
        "payment_intent_id",
        "flag_reason",
        "failure_code",
        "amount_refunded",
        "created_at",
        "completed_at",
        "refunded_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "user",
        "transaction_type",
        "amount",
        "fee_amount",
        "net_amount",
        "status",
        "reference_type",
        "reference_id",
        "created_at",
    )
    list_filter = ("transaction_type", "status", "reference_type")
    search_fields = ("user__username", "payment_reference", "description")
    list_select_related = ("user",)


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ("event_id", "event_type", "payment_intent_id", "result", "received_at")
    list_filter = ("event_type", "result")
    search_fields = ("event_id", "payment_intent_id")
    fields = ("event_id", "event_type", "payment_intent_id", "result", "received_at")


@admin.register(OverlayToken)
class OverlayTokenAdmin(ReadOnlyAdmin):
    list_display = ("user", "digest_prefix", "created_at", "rotated_at")
    list_select_related = ("user",)
    search_fields = ("user__username",)
    # Neither ``token`` nor the whole ``token_digest`` is ever rendered.
    fields = ("user", "digest_prefix", "created_at", "rotated_at")
    readonly_fields = ("digest_prefix",)
    actions = ("rotate_overlay_token",)

    @admin.display(description="digest (SHA-256, first characters)")
    def digest_prefix(self, overlay: OverlayToken) -> str:
        return f"{overlay.token_digest[:DIGEST_PREFIX_LENGTH]}…"

    def has_rotate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("donations.change_overlaytoken")

    @admin.action(
        description="Rotate overlay token (open overlays are closed)", permissions=["rotate"]
    )
    def rotate_overlay_token(self, request: HttpRequest, queryset: QuerySet[OverlayToken]) -> None:
        rotated = 0
        for overlay in queryset.select_related("user"):
            do_rotate_overlay_token(user=overlay.user)
            rotated += 1
        self.message_user(request, f"Rotated {rotated} overlay token(s).")


@admin.register(StreamGoal)
class StreamGoalAdmin(ReadOnlyAdmin):
    """Goals change only through ``donations.goals`` (the owner's dashboard and the
    donations that count toward them), so ``raised`` stays exact."""

    list_display = ("stream", "title", "amount", "raised", "set_at", "cleared_at", "version")
    list_select_related = ("stream",)
    search_fields = ("title", "stream__title")
