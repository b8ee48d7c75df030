"""Money amounts as clients send them: a decimal string (or an integer) in major units,
with no more decimals than the currency has. Bounds are the caller's (a donation's and a
goal's differ)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from core.exceptions import ValidationFailed
from donations import stripe_gateway

AMOUNT_PATTERN = re.compile(r"^\d{1,12}(\.\d{1,6})?$")


def parse_amount(raw: Any, currency: str, *, example: str) -> Decimal:
    """``example`` is shown in the error, e.g. ``'"500" or "5.00"'``."""
    if isinstance(raw, bool) or raw is None:
        raise ValidationFailed("amount is required, as a decimal string.", code="invalid_amount")
    if isinstance(raw, int):
        raw = str(raw)
    if not isinstance(raw, str) or not AMOUNT_PATTERN.match(raw.strip()):
        raise ValidationFailed(
            f"amount must be a decimal string such as {example}.", code="invalid_amount"
        )
    try:
        amount = Decimal(raw.strip())
    except InvalidOperation:
        raise ValidationFailed("amount is not a number.", code="invalid_amount") from None
    decimals = stripe_gateway.input_decimals(currency)
    if amount != amount.quantize(Decimal(1).scaleb(-decimals)):
        raise ValidationFailed(
            f"{currency.upper()} amounts allow at most {decimals} decimal places.",
            code="invalid_amount",
        )
    return amount
