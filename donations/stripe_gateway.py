"""The Stripe edge: the only module that imports ``stripe``.

- Outbound calls go through one ``StripeClient`` pointed at ``settings.STRIPE_API_BASE``
  (a local Stripe-compatible server in tests and local runs) with the pinned
  ``settings.STRIPE_API_VERSION``.
- Money crosses this edge in minor units; everywhere else it is a ``Decimal`` in major
  units. ``to_minor``/``from_minor`` know Stripe's zero- and three-decimal currencies.
- Every ``stripe`` error leaves as ``PaymentProviderError``; webhook verification
  failures leave as ``WebhookVerificationError``. Neither message carries a secret.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import stripe
from django.conf import settings

logger = logging.getLogger(__name__)

# https://docs.stripe.com/currencies#zero-decimal
ZERO_DECIMAL_CURRENCIES = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)
# https://docs.stripe.com/currencies#three-decimal (amounts must end in 0)
THREE_DECIMAL_CURRENCIES = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])
# Special cases: charged in whole units but sent with two decimals (ISK: amount x 100).
WHOLE_UNIT_TWO_DECIMAL_CURRENCIES = frozenset({"isk"})

# Stripe's minimum charge amounts, in major units
# (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts).
MINIMUM_CHARGE = {
    "usd": Decimal("0.50"),
    "aed": Decimal("2.00"),
    "aud": Decimal("0.50"),
    "bgn": Decimal("1.00"),
    "brl": Decimal("0.50"),
    "cad": Decimal("0.50"),
    "chf": Decimal("0.50"),
    "czk": Decimal("15.00"),
    "dkk": Decimal("2.50"),
    "eur": Decimal("0.50"),
    "gbp": Decimal("0.30"),
    "hkd": Decimal("4.00"),
    "huf": Decimal("175.00"),
    "inr": Decimal("0.50"),
    "jpy": Decimal("50"),
    "krw": Decimal("100"),
    "mxn": Decimal("10"),
    "myr": Decimal("2"),
    "nok": Decimal("3.00"),
    "nzd": Decimal("0.50"),
    "pln": Decimal("2.00"),
    "ron": Decimal("2.00"),
    "sek": Decimal("3.00"),
    "sgd": Decimal("0.50"),
    "thb": Decimal("10"),
}
# Stripe accepts at most eight digits of minor units.
MAX_MINOR_AMOUNT = 99_999_999


class PaymentProviderError(Exception):
    """Stripe could not be reached or refused the call. ``retryable`` tells whether
    trying again later may help (network, 5xx, rate limit)."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class WebhookVerificationError(Exception):
    """The webhook body is not a genuine, recent, well-formed Stripe event."""


def currency_exponent(currency: str) -> int:
    """How many minor-unit digits Stripe uses for ``currency`` on the wire."""
    currency = currency.lower()
    if currency in ZERO_DECIMAL_CURRENCIES:
        return 0
    if currency in THREE_DECIMAL_CURRENCIES:
        return 3
    return 2


def input_decimals(currency: str) -> int:
    """How many decimals a donor may type for ``currency`` (our column holds two)."""
    currency = currency.lower()
    if currency in ZERO_DECIMAL_CURRENCIES or currency in WHOLE_UNIT_TWO_DECIMAL_CURRENCIES:
        return 0
    return 2


def minimum_amount(currency: str) -> Decimal:
    currency = currency.lower()
    if currency in MINIMUM_CHARGE:
        return MINIMUM_CHARGE[currency]
    return Decimal(1).scaleb(-input_decimals(currency))


def maximum_amount(currency: str) -> Decimal:
    return from_minor(MAX_MINOR_AMOUNT, currency)


def to_minor(amount: Decimal, currency: str) -> int:
    """``Decimal("500")`` JPY → 500; ``Decimal("5.00")`` USD → 500."""
    scaled = amount.scaleb(currency_exponent(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more decimals than {currency.upper()} allows")
    return int(scaled)


def from_minor(amount: int, currency: str) -> Decimal:
    """500 JPY → ``Decimal("500.00")``; 500 USD → ``Decimal("5.00")``."""
    return (Decimal(int(amount)).scaleb(-currency_exponent(currency))).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )


def idempotency_key(*, donation_id: int, created_at_epoch_us: int) -> str:
    """The same donation always gets the same key, so a retried create never makes a
    second PaymentIntent; two databases reusing an id still get different keys."""
    return f"eldonia-donation-{donation_id}-{created_at_epoch_us}-payment-intent"


@dataclass(frozen=True)
class CreatedPaymentIntent:
    id: str
    client_secret: str


@functools.cache
def _client(api_key: str, api_base: str, api_version: str, timeout: float, retries: int):
    return stripe.StripeClient(
        api_key,
        stripe_version=api_version,
        base_addresses={"api": api_base},
        max_network_retries=retries,
        http_client=stripe.RequestsClient(timeout=timeout),
    )


def get_client() -> stripe.StripeClient:
    # Keyed by the settings, so a changed setting (tests) gets a fresh client.
    return _client(
        settings.STRIPE_SECRET_KEY,
        settings.STRIPE_API_BASE,
        settings.STRIPE_API_VERSION,
        float(settings.STRIPE_TIMEOUT_SECONDS),
        int(settings.STRIPE_MAX_NETWORK_RETRIES),
    )


def create_payment_intent(
    *,
    amount: Decimal,
    currency: str,
    metadata: dict[str, str],
    idempotency_key: str,
    description: str,
) -> CreatedPaymentIntent:
    """Create a PaymentIntent (automatic payment methods) for ``amount`` major units."""
    params: dict[str, Any] = {
        "amount": to_minor(amount, currency),
        "currency": currency.lower(),
        "metadata": metadata,
        "description": description,
        "automatic_payment_methods": {"enabled": True},
    }
    try:
        intent = get_client().v1.payment_intents.create(
            params=params, options={"idempotency_key": idempotency_key}
        )
    except stripe.StripeError as exc:
        retryable = (
            isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError | stripe.APIError)
            or (exc.http_status or 0) >= 500
        )
        # Stripe's own message may quote (masked) keys: log the class and code only.
        logger.warning(
            "stripe create_payment_intent failed: %s (code=%s, status=%s)",
            type(exc).__name__,
            getattr(exc, "code", None),
            exc.http_status,
        )
        raise PaymentProviderError(
            "The payment provider is unavailable.", retryable=retryable
        ) from None
    if not getattr(intent, "id", None) or not getattr(intent, "client_secret", None):
        raise PaymentProviderError("The payment provider sent an invalid reply.", retryable=True)
    return CreatedPaymentIntent(id=str(intent.id), client_secret=str(intent.client_secret))


def construct_event(payload: bytes, signature_header: str | None) -> dict[str, Any]:
    """Verify a webhook exactly as Stripe documents it (``construct_event`` with its
    default tolerance) and return the event as plain dicts."""
    try:
        event = stripe.Webhook.construct_event(
            payload, signature_header, settings.STRIPE_WEBHOOK_SECRET
        )
    except stripe.SignatureVerificationError:
        raise WebhookVerificationError("Invalid Stripe signature.") from None
    except (ValueError, TypeError, KeyError):
        raise WebhookVerificationError("Invalid webhook payload.") from None
    data = event.to_dict()
    if not isinstance(data.get("id"), str) or not isinstance(data.get("type"), str):
        raise WebhookVerificationError("Invalid webhook payload.")
    return data


@dataclass(frozen=True)
class ConfirmResult:
    """``outcome``: "succeeded", "declined" (card error) or "not_pending" (already
    confirmed); ``status`` is the PaymentIntent's status after the call."""

    outcome: str
    status: str
    message: str = ""


def retrieve_client_secret(payment_intent_id: str) -> str | None:
    """The PaymentIntent's client secret (``None``: Stripe does not know it)."""
    try:
        intent = get_client().v1.payment_intents.retrieve(payment_intent_id)
    except stripe.InvalidRequestError:
        return None
    except stripe.StripeError as exc:
        logger.warning("stripe retrieve failed: %s", type(exc).__name__)
        raise PaymentProviderError("The payment provider is unavailable.", retryable=True) from None
    return str(getattr(intent, "client_secret", "") or "") or None


def confirm_payment_intent(payment_intent_id: str, *, payment_method: str) -> ConfirmResult:
    """Confirm with a test payment method (local test mode only: real payments are
    confirmed by Stripe.js in the donor's browser)."""
    try:
        intent = get_client().v1.payment_intents.confirm(
            payment_intent_id, params={"payment_method": payment_method}
        )
    except stripe.CardError as exc:
        intent = getattr(getattr(exc, "error", None), "payment_intent", None)
        status = intent.get("status") if hasattr(intent, "get") else None
        return ConfirmResult(
            "declined", str(status or "requires_payment_method"), exc.user_message or ""
        )
    except stripe.InvalidRequestError as exc:
        if getattr(exc, "code", None) == "payment_intent_unexpected_state":
            return ConfirmResult("not_pending", "succeeded")
        logger.warning("stripe confirm refused: %s", getattr(exc, "code", None))
        raise PaymentProviderError("The payment provider refused it.", retryable=False) from None
    except stripe.StripeError as exc:
        logger.warning("stripe confirm failed: %s", type(exc).__name__)
        raise PaymentProviderError("The payment provider is unavailable.", retryable=True) from None
    return ConfirmResult("succeeded", str(getattr(intent, "status", "") or "succeeded"))
