"""System checks: production refuses to start without its secrets."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured


@register(Tags.security, deploy=False)
def check_production_settings(app_configs=None, **kwargs) -> list:
    if settings.DEBUG:
        return []
    errors = []
    required = {
        "SECRET_KEY": "eldonia.E001",
        "STRIPE_SECRET_KEY": "eldonia.E002",
        "STRIPE_PUBLISHABLE_KEY": "eldonia.E003",
        "STRIPE_WEBHOOK_SECRET": "eldonia.E004",
    }
    for name, check_id in required.items():
        try:
            value = getattr(settings, name, "")
        except ImproperlyConfigured:  # Django refuses to hand out an empty SECRET_KEY
            value = ""
        if not value:
            errors.append(
                Error(
                    f"{name} is not set.",
                    hint=f"Set the {name} environment variable (DEBUG is off).",
                    id=check_id,
                )
            )
    if not settings.ALLOWED_HOSTS:
        errors.append(
            Error("ALLOWED_HOSTS is empty.", hint="Set ALLOWED_HOSTS.", id="eldonia.E005")
        )
    if not settings.INGEST_SECRET:
        errors.append(
            Warning(
                "INGEST_SECRET is not set: anyone who can reach /ingest/ may report publishes.",
                hint="Set INGEST_SECRET and add ?secret=... to the nginx-rtmp callback URLs.",
                id="eldonia.W001",
            )
        )
    return errors
