"""Every state change of donations and overlays (CONVENTIONS: ``check_*`` → ``do_*``).

Money rules: amounts are ``Decimal`` in major units; a donation counts toward
``live_streams.total_donations`` with ``amount - amount_refunded`` from the moment it
is completed. Completion happens in exactly one place, ``do_complete_donation``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import redis
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from accounts.models import User
from core import throttle
from core.exceptions import (
    ApplicationError,
    Forbidden,
    InvalidTransition,
    NotAuthenticated,
    NotFound,
    ValidationFailed,
)
from core.inputs import parse_id
from core.redis import get_redis
from core.redis import key as redis_key
from donations import goals, stripe_gateway
from donations.amounts import parse_amount
from donations.models import OverlayToken, StreamDonation, Transaction
from donations.selectors import (
    counted_total_sql,
    donation_event,
    donation_for_owner,
    token_digest,
)
from gamification.services import check_donation_achievements, donation_achievements_due
from realtime import event_types, groups
from realtime.events import invalidate_snapshots_on_commit, send_event_now, send_event_on_commit
from streams.models import LiveStream
from webhooks.services import emit_donation_completed, emit_donation_refunded

logger = logging.getLogger(__name__)

MESSAGE_MAX_LENGTH = 255
DISPLAY_NAME_MAX_LENGTH = 25
OVERLAY_TOKEN_BYTES = 32  # 43 URL-safe characters
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
Status = StreamDonation.PaymentStatus
# The channel-layer message that tells overlay sockets of a rotated token to close.
OVERLAY_ROTATED = "overlay.rotated"
# The largest stream total ``live_streams.total_donations`` (DECIMAL(10,2)) can hold:
# 99,999,999.99. Past it PostgreSQL raises DataError on the UPDATE.
_TOTAL_FIELD = LiveStream._meta.get_field("total_donations")
STREAM_TOTAL_MAX = Decimal(10) ** (_TOTAL_FIELD.max_digits - _TOTAL_FIELD.decimal_places) - (
    Decimal(1).scaleb(-_TOTAL_FIELD.decimal_places)
)
# ``flag_reason`` of a paid donation that the stream total could not hold.
TOTAL_OVERFLOW = StreamDonation.FlagReason.STREAM_TOTAL_OVERFLOW


class PaymentProviderUnavailable(ApplicationError):
    status = 503
    default_code = "payment_provider_unavailable"


# --------------------------------------------------------------------------- creation


@dataclass(frozen=True)
class CreatedDonation:
    donation: StreamDonation
    client_secret: str


def _clean_text(value: Any, *, field: str, max_length: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationFailed(f"{field} must be a string.", code="validation_error")
    text = CONTROL_CHARACTERS.sub("", value).strip()
    if len(text) > max_length:
        raise ValidationFailed(
            f"{field} may be at most {max_length} characters.", code=f"{field}_too_long"
        )
    return text


def _parse_amount(raw: Any, currency: str) -> Decimal:
    amount = parse_amount(raw, currency, example='"500" or "5.00"')
    minimum = stripe_gateway.minimum_amount(currency)
    if amount < minimum:
        raise ValidationFailed(
            f"The smallest donation is {minimum} {currency.upper()}.",
            code="amount_too_small",
            extra={"minimum": f"{minimum:.2f}"},
        )
    maximum = min(Decimal(settings.DONATION_MAX_AMOUNT), stripe_gateway.maximum_amount(currency))
    if amount > maximum:
        raise ValidationFailed(
            f"The largest donation is {maximum} {currency.upper()}.",
            code="amount_too_large",
            extra={"maximum": f"{maximum:.2f}"},
        )
    return amount.quantize(Decimal("0.01"))


def check_create_donation(
    *,
    stream_id: int,
    donor: User | None,
    amount: Any,
    currency: Any = None,
    message: Any = None,
    display_name: Any = None,
    is_anonymous: Any = False,
) -> CreatedDonation:
    """Validate a donor's request completely before anything is stored or Stripe is
    called, then create the donation and its PaymentIntent."""
    stream = LiveStream.objects.select_related("streamer").filter(id=stream_id).first()
    if stream is None:
        raise NotFound("This stream does not exist.")
    stream_currency = settings.DONATION_CURRENCY
    if currency is not None and (
        not isinstance(currency, str) or currency.strip().lower() != stream_currency
    ):
        raise ValidationFailed(
            f"This stream accepts donations in {stream_currency.upper()} only.",
            code="unsupported_currency",
        )
    parsed_amount = _parse_amount(amount, stream_currency)
    text = _clean_text(message, field="message", max_length=MESSAGE_MAX_LENGTH)
    name = _clean_text(display_name, field="display_name", max_length=DISPLAY_NAME_MAX_LENGTH)
    if not isinstance(is_anonymous, bool):
        raise ValidationFailed("is_anonymous must be true or false.")
    if stream.status != LiveStream.Status.LIVE:
        raise InvalidTransition(
            "Donations are accepted only while the stream is live.", code="stream_not_live"
        )
    # A donation that would take the stream total past what its column holds could
    # never be counted: refuse it before the donor pays. (Pending donations are not
    # reserved; completion flags the rare one that still does not fit.)
    room = STREAM_TOTAL_MAX - (stream.total_donations or Decimal("0.00"))
    if parsed_amount > room:
        raise ValidationFailed(
            "This stream's donation total has reached the most it can record;"
            " it cannot accept a donation this large.",
            code="stream_total_limit",
            extra={"maximum": f"{max(room, Decimal('0.00')):.2f}"},
        )
    if not name and donor is not None and not is_anonymous:
        name = donor.public_name[:DISPLAY_NAME_MAX_LENGTH]
    donation = do_create_donation(
        stream=stream,
        donor=donor,
        amount=parsed_amount,
        currency=stream_currency,
        message=text,
        display_name=name,
        is_anonymous=is_anonymous,
    )
    client_secret = request_payment_intent(donation=donation)
    return CreatedDonation(donation=donation, client_secret=client_secret)


def do_create_donation(
    *,
    stream: LiveStream,
    donor: User | None,
    amount: Decimal,
    currency: str,
    message: str,
    display_name: str,
    is_anonymous: bool,
) -> StreamDonation:
    """Store a ``pending`` donation (trusted input)."""
    with transaction.atomic():
        return StreamDonation.objects.create(
            stream=stream,
            donor=donor,
            amount=amount,
            currency=currency,
            message=message or None,
            display_name=display_name or None,
            is_anonymous=is_anonymous,
            payment_status=Status.PENDING,
        )


def request_payment_intent(*, donation: StreamDonation) -> str:
    """Create the donation's PaymentIntent (outside any transaction: network I/O) and
    remember its id. Returns the client secret for Stripe.js.

    If Stripe fails the donation simply stays ``pending`` without a PaymentIntent; the
    donor is told to try again (``payment_provider_unavailable``).
    """
    created_us = int(donation.created_at.timestamp() * 1_000_000)
    try:
        intent = stripe_gateway.create_payment_intent(
            amount=donation.amount,
            currency=donation.currency or settings.DONATION_CURRENCY,
            metadata={
                "donation_id": str(donation.id),
                "stream_id": str(donation.stream_id),
            },
            idempotency_key=stripe_gateway.idempotency_key(
                donation_id=donation.id, created_at_epoch_us=created_us
            ),
            description=f"Donation {donation.id} to stream {donation.stream_id}",
        )
    except stripe_gateway.PaymentProviderError as exc:
        raise PaymentProviderUnavailable(
            "The payment provider is unavailable right now; please try again in a moment.",
            status=503 if exc.retryable else 502,
        ) from None
    do_attach_payment_intent(donation=donation, payment_intent_id=intent.id)
    return intent.client_secret


def do_attach_payment_intent(*, donation: StreamDonation, payment_intent_id: str) -> None:
    with transaction.atomic():
        StreamDonation.objects.filter(id=donation.id, payment_intent_id__isnull=True).update(
            payment_intent_id=payment_intent_id
        )
    donation.payment_intent_id = payment_intent_id


# --------------------------------------------------------------------------- money


def platform_fee(amount: Decimal, currency: str) -> Decimal:
    """``PLATFORM_FEE_PERCENT`` of ``amount``, rounded half-up to the currency's unit."""
    step = Decimal(1).scaleb(-stripe_gateway.input_decimals(currency))
    fee = amount * Decimal(str(settings.PLATFORM_FEE_PERCENT)) / Decimal(100)
    return min(amount, fee.quantize(step, rounding=ROUND_HALF_UP)).quantize(Decimal("0.01"))


def _add_to_stream_total(stream_id: int, delta: Decimal) -> bool:
    """Atomic ``UPDATE ... SET total = total + delta`` (no read-modify-write).

    A raise that would take the total past ``STREAM_TOTAL_MAX`` changes nothing and
    returns ``False``: the limit is in the same UPDATE's ``WHERE`` (no race), so the
    caller's transaction is not broken by a ``DataError``. Plain SQL: it runs once per
    completion and refund, and the ORM spent more time building it than PostgreSQL
    running it.
    """
    sql = (
        "UPDATE live_streams SET total_donations = COALESCE(total_donations, 0) + %s WHERE id = %s"
    )
    params: list[Any] = [delta, stream_id]
    if delta > 0:
        sql += " AND COALESCE(total_donations, 0) + %s <= %s"
        params += [delta, STREAM_TOTAL_MAX]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount == 1


def _intent_matches(
    donation: StreamDonation, *, amount_minor: Any, amount_received: Any, currency: Any
) -> bool:
    donation_currency = (donation.currency or settings.DONATION_CURRENCY).lower()
    if not isinstance(currency, str) or currency.lower() != donation_currency:
        return False
    expected = stripe_gateway.to_minor(donation.amount, donation_currency)
    if amount_minor != expected:
        return False
    return amount_received is None or amount_received == expected


def _metadata_matches(donation: StreamDonation, metadata: dict[str, Any]) -> bool:
    return metadata.get("donation_id") == str(donation.id) and metadata.get("stream_id") == str(
        donation.stream_id
    )


def do_complete_donation(
    *,
    donation_id: int,
    payment_intent_id: str,
    amount_minor: Any,
    amount_received: Any,
    currency: Any,
    metadata: dict[str, Any],
) -> str:
    """Mark a donation paid: the one place completion happens.

    In one transaction: donation ``completed`` (also after an earlier ``failed``: the
    donor retried), the stream total raised atomically by what it counts
    (``amount - amount_refunded``), the streamer's ``sale`` transaction booked and, when
    refund events were delivered before this one, the ``refund`` transaction too, so
    the ledger ends the same whatever order Stripe delivered the events in (invariant
    in ``_book_refund``). A donation refunded in full before its success arrived is
    booked the same way (sale and refund, nothing counted) but stays ``refunded`` and
    gets no alert. After commit the ``donation`` event goes to the stream room, the
    owner's dashboard and every overlay of the streamer.

    A PaymentIntent that does not match the donation flags it instead, and nothing is
    counted; so does a payment that the stream total cannot hold any more
    (``stream_total_overflow``, logged as an error for a person to settle): answering
    200 rather than failing on ``DataError`` at every one of Stripe's redeliveries.
    Completing an already completed (or flagged) donation changes nothing.

    Concurrent completions of different donations share only their stream's rows (its
    total, its goal): those are written last, so each waits for the others only for
    those two statements and the commit (a donation rush on one stream). Whether the
    total can hold the donation is read first, without that lock; the guarded
    ``UPDATE`` re-checks it, and in the (astronomically rare) race where two
    completions together overflow it, the later one raises ``DatabaseError``: its
    transaction rolls back and the webhook answers 503, so Stripe's redelivery finds the
    full total and flags it.
    """
    with transaction.atomic():
        donation = _locked_donation(donation_id=donation_id)
        if donation is None:
            raise StreamDonation.DoesNotExist(f"donation {donation_id}")
        return _complete_locked(
            donation,
            payment_intent_id=payment_intent_id,
            amount_minor=amount_minor,
            amount_received=amount_received,
            currency=currency,
            metadata=metadata,
        )


class StreamTotalRaced(DatabaseError):
    """A completion found the stream total full after checking it had room."""


_LOCK_DONATION_SQL = (
    "SELECT d.*, s.streamer_id AS stream_streamer_id, s.total_donations AS stream_total"
    " FROM stream_donations d JOIN live_streams s ON s.id = d.stream_id"
    " WHERE d.{column} = %s ORDER BY d.id LIMIT 1 FOR UPDATE OF d"
)


def _locked_donation(*, donation_id: int | None = None, payment_intent_id: str | None = None):
    """The donation (by id or PaymentIntent id) locked ``FOR UPDATE`` (its own row
    only), with its stream's ``streamer_id`` and current ``total_donations`` (read, not
    locked) as ``stream_streamer_id`` / ``stream_total``, in one query; ``None`` if none."""
    column, value = (
        ("id", donation_id)
        if donation_id is not None
        else (
            "payment_intent_id",
            payment_intent_id,
        )
    )
    found = list(StreamDonation.objects.raw(_LOCK_DONATION_SQL.format(column=column), [value]))
    return found[0] if found else None


def _complete_locked(
    donation: StreamDonation,
    *,
    payment_intent_id: str,
    amount_minor: Any,
    amount_received: Any,
    currency: Any,
    metadata: dict[str, Any],
) -> str:
    """``do_complete_donation`` once the donation is locked (by ``_locked_donation``);
    the caller is inside ``transaction.atomic()``."""
    if donation.flag_reason:
        return "flagged"
    refunded_first = donation.payment_status == Status.REFUNDED and donation.completed_at is None
    if donation.payment_status not in (Status.PENDING, Status.FAILED) and not refunded_first:
        return "already_" + str(donation.payment_status)
    counted = donation.amount - donation.amount_refunded
    if not _intent_matches(
        donation, amount_minor=amount_minor, amount_received=amount_received, currency=currency
    ):
        reason = StreamDonation.FlagReason.AMOUNT_MISMATCH
    elif not _metadata_matches(donation, metadata):
        reason = StreamDonation.FlagReason.METADATA_MISMATCH
    elif (donation.stream_total or Decimal(0)) + counted > STREAM_TOTAL_MAX:
        reason = TOTAL_OVERFLOW  # nothing is added
    else:
        reason = None
    if reason is not None:
        donation.flag_reason = reason
        donation.payment_intent_id = donation.payment_intent_id or payment_intent_id
        donation.save(update_fields=["flag_reason", "payment_intent_id"])
        if reason == TOTAL_OVERFLOW:
            logger.error(
                "donation %s (%s) paid but not counted: stream %s's total cannot hold it",
                donation.id,
                donation.amount,
                donation.stream_id,
            )
        else:
            logger.warning("donation %s flagged: %s", donation.id, reason)
        return str(reason)

    now = timezone.now()
    if not refunded_first:
        donation.payment_status = Status.COMPLETED
    donation.completed_at = now
    donation.failure_code = None
    donation.payment_intent_id = payment_intent_id
    streamer_id = donation.stream_streamer_id
    currency_code = donation.currency or settings.DONATION_CURRENCY
    fee = platform_fee(donation.amount, currency_code)
    with connection.cursor() as cursor:
        # One statement (the row is locked): the donation paid, the streamer's sale row.
        cursor.execute(
            "WITH paid AS (UPDATE stream_donations SET payment_status = %s, completed_at = %s,"
            " failure_code = NULL, payment_intent_id = %s WHERE id = %s RETURNING id)"
            " INSERT INTO transactions (user_id, transaction_type, amount, fee_amount,"
            " net_amount, reference_type, reference_id, payment_method, payment_reference,"
            " status, description, created_at, processed_at)"
            " SELECT %s, %s, %s, %s, %s, 'donation', paid.id, 'stripe', %s, %s, %s, %s, %s"
            " FROM paid",
            [
                donation.payment_status,
                now,
                payment_intent_id,
                donation.id,
                streamer_id,
                Transaction.Type.SALE.value,
                donation.amount,
                fee,
                donation.amount - fee,
                payment_intent_id,
                Transaction.Status.COMPLETED.value,
                f"Donation {donation.id} ({currency_code.upper()})",
                now,
                now,
            ],
        )
    if donation.amount_refunded > 0:
        _book_refund(donation=donation, currency=currency_code, now=now, streamer_id=streamer_id)
    if refunded_first:
        _count_in_stream_total(donation, counted)
        invalidate_snapshots_on_commit([donation.stream_id])  # the total moved, no alert
        return "completed_refunded"
    send_event_on_commit(
        [
            groups.stream_room(donation.stream_id),
            groups.stream_dashboard(donation.stream_id),
            groups.streamer_overlays(streamer_id),
        ],
        donation_event(donation),
    )
    emit_donation_completed(donation=donation, streamer_id=streamer_id)
    # Asked before the shared rows are locked (one indexed read; usually "no").
    achievements_due = donation_achievements_due(streamer_id=streamer_id)
    # Last, the rows every completion of this stream writes: its total, then its
    # running goal (whose event follows the donation's).
    _count_in_stream_total(donation, counted)
    goals.count_toward_goal(stream_id=donation.stream_id, delta=counted, completed_at=now)
    if achievements_due:
        # "First donation received" unlocks in the same transaction as the money; its
        # event follows the donation's.
        check_donation_achievements(streamer_id=streamer_id, stream_id=donation.stream_id, now=now)
    return "completed"


def _count_in_stream_total(donation: StreamDonation, counted: Decimal) -> None:
    if counted and not _add_to_stream_total(donation.stream_id, counted):
        raise StreamTotalRaced(f"stream {donation.stream_id}: total full, retry the event")


def do_fail_donation(*, donation_id: int, failure_code: str | None) -> str:
    """``failed``, unless the donation is already completed, refunded or flagged."""
    with transaction.atomic():
        donation = StreamDonation.objects.select_for_update().get(id=donation_id)
        if donation.flag_reason:
            return "flagged"
        if donation.payment_status != Status.PENDING:
            return "already_" + str(donation.payment_status)
        donation.payment_status = Status.FAILED
        donation.failure_code = (failure_code or "")[:100] or None
        donation.save(update_fields=["payment_status", "failure_code"])
        return "failed"


def do_refund_donation(*, donation_id: int, amount_refunded_minor: Any, currency: Any) -> str:
    """Apply a (partial or full) refund; ``amount_refunded`` is Stripe's cumulative
    figure, so redelivered or reordered refund events apply once.

    A counted donation lowers the stream total by the newly refunded part and books it
    on the streamer's ``refund`` transaction; a full refund makes it ``refunded``. A
    refund that arrives before the payment's success only raises ``amount_refunded``
    (nothing is counted or booked yet): ``do_complete_donation`` books it with the sale.
    """
    with transaction.atomic():
        donation = StreamDonation.objects.select_for_update().get(id=donation_id)
        donation_currency = (donation.currency or settings.DONATION_CURRENCY).lower()
        if not isinstance(currency, str) or currency.lower() != donation_currency:
            logger.warning("refund for donation %s in another currency ignored", donation.id)
            return "currency_mismatch"
        if isinstance(amount_refunded_minor, bool) or not isinstance(amount_refunded_minor, int):
            return "invalid_amount"
        refunded = min(
            stripe_gateway.from_minor(amount_refunded_minor, donation_currency), donation.amount
        )
        if refunded <= donation.amount_refunded:
            return "noop"
        delta = refunded - donation.amount_refunded
        was_counted = donation.payment_status == Status.COMPLETED and not donation.flag_reason
        now = timezone.now()
        donation.amount_refunded = refunded
        fields = ["amount_refunded"]
        if refunded >= donation.amount:
            donation.payment_status = Status.REFUNDED
            donation.refunded_at = now
            fields += ["payment_status", "refunded_at"]
        donation.save(update_fields=fields)
        if was_counted:
            _add_to_stream_total(donation.stream_id, -delta)
            # The public total changed and no room event says so: drop cached payloads.
            invalidate_snapshots_on_commit([donation.stream_id])
            _book_refund(donation=donation, currency=donation_currency, now=now)
            goals.count_toward_goal(
                stream_id=donation.stream_id, delta=-delta, completed_at=donation.completed_at
            )
            emit_donation_refunded(donation=donation, refund_amount=delta)
        return "refunded" if refunded >= donation.amount else "partially_refunded"


def _book_refund(
    *, donation: StreamDonation, currency: str, now: datetime, streamer_id: int | None = None
) -> None:
    """Make the donation's one ``refund`` row hold everything refunded so far. Caller
    holds the donation's row lock, and the donation has (or is getting) its sale row.

    The row is *set* from ``amount_refunded``, not incremented, so how many refund
    events there were, and in which order they came, does not matter. The ledger
    invariant, per donation, with sale rows counting + and refund rows -:

    - the amounts add up to what the stream total counts for it,
      ``amount - amount_refunded`` (0 when refunded in full);
    - the fees add up to ``platform_fee`` of that same figure: the platform keeps its
      percentage of what the streamer keeps, rounded once (the refund row's fee is
      ``platform_fee(amount) - platform_fee(amount - amount_refunded)``, never a sum of
      per-refund roundings);
    - on every row ``net_amount = amount - fee_amount``.
    """
    if streamer_id is None:
        streamer_id = LiveStream.objects.values_list("streamer_id", flat=True).get(
            id=donation.stream_id
        )
    refunded = donation.amount_refunded
    fee_back = platform_fee(donation.amount, currency) - platform_fee(
        donation.amount - refunded, currency
    )
    values = {
        "amount": refunded,
        "fee_amount": fee_back,
        "net_amount": refunded - fee_back,
        "processed_at": now,
    }
    updated = Transaction.objects.filter(
        reference_type="donation",
        reference_id=donation.id,
        transaction_type=Transaction.Type.REFUND,
    ).update(**values)
    if not updated:
        Transaction.objects.create(
            user_id=streamer_id,
            transaction_type=Transaction.Type.REFUND,
            reference_type="donation",
            reference_id=donation.id,
            payment_method="stripe",
            payment_reference=donation.payment_intent_id,
            status=Transaction.Status.COMPLETED,
            description=f"Refund of donation {donation.id} ({currency.upper()})",
            **values,
        )


# --------------------------------------------------------------------------- webhooks


def _lock_donation_for_intent(
    payment_intent_id: str, metadata: dict[str, Any]
) -> StreamDonation | None:
    """The donation a PaymentIntent pays for, locked (``_locked_donation``). Found by
    the PaymentIntent id we stored, else by its ``donation_id`` metadata (if our write
    of the id was lost)."""
    donation = _locked_donation(payment_intent_id=payment_intent_id)
    if donation is not None:
        return donation
    donation_id = parse_id(metadata.get("donation_id"))
    if donation_id is not None:
        donation = _locked_donation(donation_id=donation_id)
        if donation is not None and donation.payment_intent_id in (None, payment_intent_id):
            return donation
    return None


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _on_intent_succeeded(obj: dict[str, Any]) -> str:
    metadata = _as_dict(obj.get("metadata"))
    donation = _lock_donation_for_intent(str(obj.get("id")), metadata)
    if donation is None:
        return "unknown_donation"
    # Inside do_process_stripe_event's transaction, with the row locked just now:
    # do_complete_donation without a second lookup (or a savepoint).
    return _complete_locked(
        donation,
        payment_intent_id=str(obj.get("id")),
        amount_minor=obj.get("amount"),
        amount_received=obj.get("amount_received"),
        currency=obj.get("currency"),
        metadata=metadata,
    )


def _on_intent_failed(obj: dict[str, Any]) -> str:
    donation = _lock_donation_for_intent(str(obj.get("id")), _as_dict(obj.get("metadata")))
    if donation is None:
        return "unknown_donation"
    error = _as_dict(obj.get("last_payment_error"))
    return do_fail_donation(
        donation_id=donation.id, failure_code=error.get("decline_code") or error.get("code")
    )


def _on_charge_refunded(obj: dict[str, Any]) -> str:
    intent = obj.get("payment_intent")
    intent_id = intent.get("id") if isinstance(intent, dict) else intent
    if not isinstance(intent_id, str):
        return "unknown_donation"
    donation = _lock_donation_for_intent(intent_id, _as_dict(obj.get("metadata")))
    if donation is None:
        return "unknown_donation"
    return do_refund_donation(
        donation_id=donation.id,
        amount_refunded_minor=obj.get("amount_refunded"),
        currency=obj.get("currency"),
    )


EVENT_HANDLERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "payment_intent.succeeded": _on_intent_succeeded,
    "payment_intent.payment_failed": _on_intent_failed,
    "charge.refunded": _on_charge_refunded,
}


def do_process_stripe_event(*, event: dict[str, Any]) -> str:
    """Apply a verified Stripe event exactly once.

    The event id is inserted under a unique constraint in the same transaction as its
    effect: a concurrent delivery of the same event waits for that insert and then sees
    the conflict; a failed handler rolls the id back so Stripe's retry runs again.
    Database errors propagate (the webhook answers 5xx and Stripe redelivers).
    """
    event_id = event["id"]
    event_type = event["type"]
    obj = _as_dict(_as_dict(event.get("data")).get("object"))
    intent_id = obj.get("id") if event_type.startswith("payment_intent.") else None
    if event_type.startswith("charge."):
        intent = obj.get("payment_intent")
        intent_id = intent.get("id") if isinstance(intent, dict) else intent
    with transaction.atomic():
        with connection.cursor() as cursor:
            # One statement: this transaction's lock_timeout, then the event id.
            cursor.execute(
                "INSERT INTO donations_stripe_events"
                " (event_id, event_type, payment_intent_id, result, received_at)"
                " SELECT %s, %s, %s, '', now()"
                " FROM (SELECT set_config('lock_timeout', %s, true)) AS lock_timeout"
                " ON CONFLICT (event_id) DO NOTHING RETURNING id",
                [
                    event_id,
                    event_type[:100],
                    intent_id if isinstance(intent_id, str) else None,
                    f"{int(settings.STRIPE_WEBHOOK_LOCK_TIMEOUT_MS)}ms",
                ],
            )
            row = cursor.fetchone()
            if row is None:
                return "duplicate"
        handler = EVENT_HANDLERS.get(event_type)
        result = handler(obj) if handler is not None else "ignored"
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE donations_stripe_events SET result = %s WHERE id = %s", [result, row[0]]
            )
        return result


# --------------------------------------------------------------------------- reconcile


def do_reconcile_stream_total(*, stream_id: int) -> bool:
    """Set one stream's total to completed minus refunded donations. Holds the stream's
    row lock while summing, so a completion committing meanwhile is waited for and
    included. Returns whether the total was wrong."""
    with transaction.atomic():
        stream = LiveStream.objects.select_for_update().filter(id=stream_id).first()
        if stream is None:
            return False
        with connection.cursor() as cursor:
            cursor.execute(counted_total_sql(), [stream_id])
            (expected,) = cursor.fetchone()
        expected = Decimal(expected).quantize(Decimal("0.01"))
        if stream.total_donations == expected:
            return False
        if expected > STREAM_TOTAL_MAX:
            # Only rows written outside do_complete_donation (which flags what does not
            # fit) can get here; the column cannot hold it, so leave it to a person
            # rather than fail this task on DataError every run.
            logger.error(
                "stream %s counts %s in donations, more than total_donations can hold",
                stream_id,
                expected,
            )
            return False
        logger.warning(
            "stream %s total_donations was %s, set to %s",
            stream_id,
            stream.total_donations,
            expected,
        )
        LiveStream.objects.filter(id=stream_id).update(total_donations=expected)
        invalidate_snapshots_on_commit([stream_id])
        return True


def streams_with_wrong_totals() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ls.id FROM live_streams ls LEFT JOIN ("
            "  SELECT d.stream_id, SUM(d.amount - COALESCE(d.amount_refunded, 0)) AS total"
            "  FROM stream_donations d"
            "  WHERE d.payment_status IN ('completed', 'refunded')"
            "    AND d.completed_at IS NOT NULL AND d.flag_reason IS NULL"
            "  GROUP BY d.stream_id"
            ") s ON s.stream_id = ls.id"
            " WHERE ls.total_donations IS DISTINCT FROM COALESCE(s.total, 0)"
            " ORDER BY ls.id"
        )
        return [row[0] for row in cursor.fetchall()]


# --------------------------------------------------------------------------- overlays


def _new_token() -> str:
    return secrets.token_urlsafe(OVERLAY_TOKEN_BYTES)


def get_or_create_overlay_token(*, user: User) -> OverlayToken:
    existing = OverlayToken.objects.filter(user=user).first()
    if existing is not None:
        return existing
    token = _new_token()
    overlay, _ = OverlayToken.objects.get_or_create(
        user=user, defaults={"token": token, "token_digest": token_digest(token)}
    )
    return overlay


def do_rotate_overlay_token(*, user: User) -> OverlayToken:
    """Give the streamer a new overlay token. Sockets using the old one are closed
    (4403) after commit; new connections with it are refused (4404)."""
    with transaction.atomic():
        overlay = get_or_create_overlay_token(user=user)
        overlay = OverlayToken.objects.select_for_update().get(id=overlay.id)
        token = _new_token()
        overlay.token = token
        overlay.token_digest = token_digest(token)
        overlay.rotated_at = timezone.now()
        overlay.save(update_fields=["token", "token_digest", "rotated_at"])
        digest = overlay.token_digest
        transaction.on_commit(
            lambda: _notify_overlays_rotated(user_id=user.id, current_digest=digest),
            robust=True,
        )
    return overlay


def _notify_overlays_rotated(*, user_id: int, current_digest: str) -> None:
    try:
        send_event_now(
            [groups.streamer_overlays(user_id)],
            {"type": OVERLAY_ROTATED, "current_digest": current_digest},
        )
    except Exception:  # the rotation is committed; sockets re-check on reconnect anyway
        logger.exception("could not tell overlays of user %s about a rotation", user_id)


def send_test_alert(*, user: User) -> dict[str, Any]:
    """A test alert for the streamer's overlays: flagged ``test``, touches no money."""
    currency = settings.DONATION_CURRENCY
    event = event_types.donation(
        id=f"test-{secrets.token_hex(6)}",
        display_name="Test donor",
        amount=f"{stripe_gateway.minimum_amount(currency) * 10:.2f}",
        currency=currency,
        message="This is a test alert. It looks like the real thing.",
        created_at=timezone.now().isoformat(),
        test=True,
    )
    send_event_on_commit(groups.streamer_overlays(user.id), event)
    return event


def check_replay_donation(*, user: User | None, donation_id: int) -> dict[str, Any]:
    """Re-send a completed donation's alert to the owner's overlays."""
    if user is None or not user.is_authenticated:
        raise NotAuthenticated("Log in first.")
    donation = donation_for_owner(donation_id)
    if donation is None:
        raise NotFound("This donation does not exist.")
    if donation.stream.streamer_id != user.id:
        raise Forbidden("This donation was not made to your stream.")
    if donation.payment_status != Status.COMPLETED:
        raise InvalidTransition(
            "Only completed donations can be shown again.", code="donation_not_completed"
        )
    event = donation_event(donation, replay=True)
    send_event_on_commit(groups.streamer_overlays(user.id), event)
    return event


# --------------------------------------------------------------------------- idempotent creation
# A donate button clicked three times must create one donation. The page sends an
# ``Idempotency-Key`` (one per donation attempt); the first request with a key creates
# the donation, every repeat within DONATION_IDEMPOTENCY_TTL_SECONDS gets the same one.
#
# Redis, per requester (``account:<id>``, or ``ip:<client IP>`` for guests) and key:
# ``donations:idempotency:<requester>:<sha256(key)>`` holds JSON ``{state, token,
# fingerprint}``: ``pending`` while one request creates the donation (taken with SET NX,
# so of two simultaneous requests exactly one creates; it expires after
# IDEMPOTENCY_LOCK_SECONDS should its process die), then ``done`` with the donation id
# and client secret for DONATION_IDEMPOTENCY_TTL_SECONDS. No database column is used.

IDEMPOTENCY_KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")  # printable ASCII, no spaces
# Longer than a donation can take to create (two Stripe calls at their timeout).
IDEMPOTENCY_LOCK_SECONDS = 120
# How long a repeat waits for the first request with its key before answering 409.
IDEMPOTENCY_WAIT_SECONDS = 10.0
# It polls the record: every 25 ms at first, backing off to every 250 ms.
IDEMPOTENCY_POLL_SECONDS = (0.025, 0.25)

_IDEMPOTENCY_FINISH = """
local current = redis.call('GET', KEYS[1])
if not current or cjson.decode(current)['token'] ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1])
else redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3])) end
return 1
"""


class IdempotencyKeyInProgress(ApplicationError):
    status = 409
    default_code = "idempotency_key_in_progress"


class IdempotencyKeyReused(ApplicationError):
    status = 422
    default_code = "idempotency_key_reused"


@dataclass(frozen=True)
class DonationAttempt:
    created: CreatedDonation
    replayed: bool  # True: an earlier request with the same key created it


def check_create_donation_once(
    *,
    idempotency_key: str | None,
    requester: str,
    limits: tuple[throttle.Limit, ...],
    stream_id: int,
    donor: User | None,
    amount: Any,
    currency: Any = None,
    message: Any = None,
    display_name: Any = None,
    is_anonymous: Any = False,
) -> DonationAttempt:
    """``check_create_donation`` behind the donation throttles (``limits``) and, with
    an ``idempotency_key``, at most once per key and ``requester``.

    A repeat of a key returns the first request's donation (``replayed``) without
    counting against the throttles or calling Stripe; the same key with a different
    request is ``idempotency_key_reused`` (422); a repeat while the first is still
    running waits for it, up to IDEMPOTENCY_WAIT_SECONDS, then gets
    ``idempotency_key_in_progress`` (409). A request that fails leaves the key free,
    so the donor can retry with it.
    """
    fields = {
        "amount": amount,
        "currency": currency,
        "message": message,
        "display_name": display_name,
        "is_anonymous": is_anonymous,
    }
    if idempotency_key is None:
        return DonationAttempt(
            _create_donation_throttled(limits, stream_id=stream_id, donor=donor, fields=fields),
            replayed=False,
        )
    if not IDEMPOTENCY_KEY_PATTERN.fullmatch(idempotency_key):
        raise ValidationFailed(
            "Idempotency-Key must be 1-255 printable ASCII characters.",
            code="invalid_idempotency_key",
        )
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()
    store_key = redis_key("donations", "idempotency", requester, digest)
    fingerprint = hashlib.sha256(
        json.dumps({"stream_id": stream_id, **fields}, sort_keys=True, default=str).encode()
    ).hexdigest()
    token = uuid.uuid4().hex
    replay = _claim_idempotency_key(store_key, token=token, fingerprint=fingerprint)
    if replay is not None:
        donation = StreamDonation.objects.filter(id=replay["donation_id"]).first()
        if donation is None:
            raise NotFound("The donation made with this Idempotency-Key no longer exists.")
        return DonationAttempt(
            CreatedDonation(donation=donation, client_secret=replay["client_secret"]),
            replayed=True,
        )
    try:
        created = _create_donation_throttled(
            limits, stream_id=stream_id, donor=donor, fields=fields
        )
    except BaseException:
        _finish_idempotency_key(store_key, token=token, record=None)
        raise
    _finish_idempotency_key(
        store_key,
        token=token,
        record={
            "state": "done",
            "token": token,
            "fingerprint": fingerprint,
            "donation_id": created.donation.id,
            "client_secret": created.client_secret,
        },
    )
    return DonationAttempt(created, replayed=False)


def _create_donation_throttled(
    limits: tuple[throttle.Limit, ...],
    *,
    stream_id: int,
    donor: User | None,
    fields: dict[str, Any],
) -> CreatedDonation:
    """Count the donation against ``limits`` before Stripe can be called. A request
    refused with a 4xx stored nothing and called no one: it is not counted."""
    slot = throttle.take(*limits, message="Too many donations; please wait a moment.")
    try:
        return check_create_donation(stream_id=stream_id, donor=donor, **fields)
    except ApplicationError as exc:
        if exc.status < 500:
            slot.release()
        raise


def _claim_idempotency_key(
    store_key: str, *, token: str, fingerprint: str
) -> dict[str, Any] | None:
    """Take the key (→ ``None``: the caller creates the donation and must call
    ``_finish_idempotency_key``), or return the ``done`` record of an earlier request
    with the same fingerprint."""
    pending = json.dumps({"state": "pending", "token": token, "fingerprint": fingerprint})
    deadline = time.monotonic() + IDEMPOTENCY_WAIT_SECONDS
    poll, max_poll = IDEMPOTENCY_POLL_SECONDS
    try:
        while True:
            if get_redis().set(store_key, pending, nx=True, ex=IDEMPOTENCY_LOCK_SECONDS):
                return None
            stored = get_redis().get(store_key)
            if stored is None:  # released or expired in between: try to take it again
                continue
            record = json.loads(stored)
            if record["fingerprint"] != fingerprint:
                raise IdempotencyKeyReused(
                    "This Idempotency-Key was already used for a different donation;"
                    " use a new key for a new donation."
                )
            if record["state"] == "done":
                return record
            if time.monotonic() >= deadline:
                raise IdempotencyKeyInProgress(
                    "A donation with this Idempotency-Key is still being created;"
                    " retry in a moment.",
                    extra={"retry_after": 1},
                )
            time.sleep(poll)
            poll = min(poll * 2, max_poll)
    except redis.RedisError:
        logger.warning("idempotency store unreachable", exc_info=True)
        raise throttle.ThrottleUnavailable(
            "Donations are unavailable for a moment; please try again.",
            extra={"retry_after": 1},
        ) from None


@functools.cache
def _finish_script() -> Any:
    return get_redis().register_script(_IDEMPOTENCY_FINISH)


def _finish_idempotency_key(store_key: str, *, token: str, record: dict[str, Any] | None) -> None:
    """Store the outcome under the key (``record``), or free it (``None``) — only if
    this request still holds it."""
    try:
        _finish_script()(
            keys=[store_key],
            args=[
                token,
                json.dumps(record) if record is not None else "",
                settings.DONATION_IDEMPOTENCY_TTL_SECONDS,
            ],
        )
    except redis.RedisError:  # the donation exists; only a repeat could miss it now
        logger.warning("could not record idempotency key outcome", exc_info=True)


# --------------------------------------------------------------------------- local test mode
# SPEC §9 "Local payments": with test-mode keys and the local Stripe-compatible server
# (donations/local_stripe.py, started by make run), the watch page completes a payment
# here instead of with Stripe.js. The donation still changes only through the signed
# webhook that server then delivers, exactly as in production.

TEST_PAYMENT_METHODS = {"succeed": "pm_card_visa", "decline": "pm_card_chargeDeclined"}


def check_complete_test_payment(
    *, donation_id: int, client_secret: Any, outcome: Any = "succeed"
) -> dict[str, Any]:
    """Pay (or decline) a pending donation in local test mode: the local server
    confirms its PaymentIntent and then delivers ``payment_intent.succeeded`` (or
    ``payment_intent.payment_failed``) to our webhook. Nothing is written here.

    Only when ``settings.STRIPE_LOCAL_TEST_MODE`` (else 404). The donor proves the
    donation is theirs with its PaymentIntent's ``client_secret`` (what the create
    response gave them), compared in constant time; a wrong one looks like a missing
    donation (404). A donation already paid → 409 ``donation_not_pending``.
    """
    import hmac

    if not settings.STRIPE_LOCAL_TEST_MODE:
        raise NotFound("Test-mode payments are available only with the local test server.")
    if not isinstance(outcome, str) or outcome not in TEST_PAYMENT_METHODS:
        raise ValidationFailed('outcome must be "succeed" or "decline".')
    if not isinstance(client_secret, str) or not client_secret:
        raise ValidationFailed("client_secret is required.")
    donation = (
        StreamDonation.objects.filter(id=donation_id)
        .only("id", "payment_status", "payment_intent_id", "flag_reason")
        .first()
    )
    if donation is None or not donation.payment_intent_id:
        raise NotFound("This donation does not exist.")
    try:
        expected = stripe_gateway.retrieve_client_secret(donation.payment_intent_id) or ""
    except stripe_gateway.PaymentProviderError:
        raise _local_server_down() from None
    if not expected or not hmac.compare_digest(client_secret.encode(), expected.encode()):
        raise NotFound("This donation does not exist.")
    if donation.payment_status not in (Status.PENDING, Status.FAILED) or donation.flag_reason:
        raise InvalidTransition(
            f"This donation is already {donation.payment_status}.", code="donation_not_pending"
        )
    try:
        result = stripe_gateway.confirm_payment_intent(
            donation.payment_intent_id, payment_method=TEST_PAYMENT_METHODS[outcome]
        )
    except stripe_gateway.PaymentProviderError as exc:
        if exc.retryable:
            raise _local_server_down() from None
        raise PaymentProviderUnavailable(
            "The local test payment server refused the payment.", status=502
        ) from None
    if result.outcome == "not_pending":
        raise InvalidTransition(
            "This donation's payment is already confirmed; its alert is on its way.",
            code="donation_not_pending",
        )
    if result.outcome == "declined":
        message = f"{result.message or 'The card was declined.'} (test mode)"
    else:
        message = "Payment confirmed (test mode); the webhook follows."
    return {
        "id": donation.id,
        "payment_intent_status": result.status,
        "outcome": result.outcome,
        "message": message,
    }


def _local_server_down() -> PaymentProviderUnavailable:
    logger.warning("local Stripe-compatible server unreachable")
    return PaymentProviderUnavailable(
        "The local test payment server is not answering; is make run still running?"
    )
