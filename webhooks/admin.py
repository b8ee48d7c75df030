"""Webhook subscriptions and their delivery log in the admin.

The signing secret is never shown. An operator may switch a subscription off
(``active``: no new events are recorded and pending ones wait) or on again; the
delivery log is read-only.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from webhooks.models import WebhookDelivery, WebhookSubscription


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "url", "events", "active", "created_at")
    list_filter = ("active",)
    search_fields = ("owner__username", "url")
    list_select_related = ("owner",)
    fields = ("owner", "url", "events", "active", "created_at")
    readonly_fields = ("owner", "url", "events", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # subscriptions are made through the API (it checks the URL)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "subscription",
        "event_id",
        "event_type",
        "attempts",
        "last_status",
        "last_error",
        "next_attempt_at",
        "delivered_at",
        "given_up_at",
        "created_at",
    )
    list_filter = ("event_type",)
    search_fields = ("event_id",)
    list_select_related = ("subscription",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
