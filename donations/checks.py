"""System checks: donation settings that would otherwise fail at the first donation."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.checks import Error, register


def _decimal(value: object) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


@register()
def check_donation_settings(app_configs=None, **kwargs) -> list[Error]:
    errors = []
    fee = _decimal(settings.PLATFORM_FEE_PERCENT)
    if fee is None or not fee.is_finite() or not Decimal(0) <= fee <= Decimal(100):
        errors.append(
            Error(
                "PLATFORM_FEE_PERCENT must be a number from 0 to 100.",
                hint='For example PLATFORM_FEE_PERCENT="10" (or "7.5").',
                id="donations.E001",
            )
        )
    maximum = _decimal(settings.DONATION_MAX_AMOUNT)
    if maximum is None or not maximum.is_finite() or maximum <= 0:
        errors.append(
            Error(
                "DONATION_MAX_AMOUNT must be a positive number (major units).",
                id="donations.E002",
            )
        )
    if not re.fullmatch(r"[a-z]{3}", settings.DONATION_CURRENCY or ""):
        errors.append(
            Error(
                "DONATION_CURRENCY must be a three-letter ISO currency code such as jpy.",
                id="donations.E003",
            )
        )
    return errors
