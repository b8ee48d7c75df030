"""``/api/me/webhooks*`` routes (included under ``api/``)."""

from django.urls import path

from webhooks import apis

urlpatterns = [
    path("me/webhooks", apis.WebhookListCreateApi.as_view(), name="webhooks"),
    path(
        "me/webhooks/<int:subscription_id>", apis.WebhookDetailApi.as_view(), name="webhook-detail"
    ),
    path(
        "me/webhooks/<int:subscription_id>/deliveries",
        apis.WebhookDeliveriesApi.as_view(),
        name="webhook-deliveries",
    ),
    path(
        "me/webhooks/<int:subscription_id>/test",
        apis.WebhookTestApi.as_view(),
        name="webhook-test",
    ),
]
