"""System checks: a ``WEBHOOK_ALLOWED_HOSTS`` entry that cannot be understood stops
start-up instead of silently allowing (or refusing) the wrong hosts."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register

from webhooks.ssrf import parse_allow_list


@register()
def check_webhook_settings(app_configs=None, **kwargs) -> list[Error]:
    errors = []
    try:
        parse_allow_list(settings.WEBHOOK_ALLOWED_HOSTS)
    except ValueError as exc:
        errors.append(
            Error(
                f"WEBHOOK_ALLOWED_HOSTS: {exc}.",
                hint='Comma-separated hostnames, IPs or CIDRs, e.g. "hooks.internal,10.1.0.0/16".',
                id="webhooks.E001",
            )
        )
    if settings.WEBHOOK_TIMEOUT_SECONDS <= 0 or settings.WEBHOOK_BACKOFF_BASE_SECONDS <= 0:
        errors.append(
            Error(
                "WEBHOOK_TIMEOUT_SECONDS and WEBHOOK_BACKOFF_BASE_SECONDS must be positive.",
                id="webhooks.E002",
            )
        )
    return errors
