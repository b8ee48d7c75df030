from django.contrib import admin

from donations.models import StreamDonation, StripeEvent, Transaction


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
    raw_id_fields = ("stream", "donor")
    readonly_fields = (
        "payment_status",
        "amount",
        "currency",
        "payment_intent_id",
        "amount_refunded",
        "completed_at",
        "refunded_at",
        "created_at",
    )


@admin.register(Transaction)
class TransactionAdmin(admin.ModelAdmin):
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
    raw_id_fields = ("user",)


@admin.register(StripeEvent)
class StripeEventAdmin(admin.ModelAdmin):
    list_display = ("event_id", "event_type", "payment_intent_id", "result", "received_at")
    list_filter = ("event_type", "result")
    search_fields = ("event_id", "payment_intent_id")
    readonly_fields = ("event_id", "event_type", "payment_intent_id", "result", "received_at")
