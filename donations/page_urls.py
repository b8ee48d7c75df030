"""Non-API routes of donations: the Stripe webhook and the OBS pages."""

from django.urls import path

from donations import views, webhooks

urlpatterns = [
    path("webhooks/stripe/", webhooks.stripe_webhook, name="stripe-webhook"),
    path("overlays/<str:token>/alerts/", views.overlay_alerts, name="overlay-alerts"),
    path("overlays/<str:token>/goal/", views.overlay_goal, name="overlay-goal"),
]
