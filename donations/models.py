"""``stream_donations`` (seed §2.7.2) and ``transactions`` (seed §2.9.3)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Now


class StreamDonation(models.Model):
    class PaymentStatus(models.TextChoices):
        PENDING = "pending", "Pending"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        # Added by this project (migration 0002): the charge was refunded in full.
        REFUNDED = "refunded", "Refunded"

    class FlagReason(models.TextChoices):
        AMOUNT_MISMATCH = "amount_mismatch", "Amount or currency does not match"
        METADATA_MISMATCH = "metadata_mismatch", "Metadata does not match"
        STREAM_TOTAL_OVERFLOW = "stream_total_overflow", "Stream total cannot hold it"

    stream = models.ForeignKey(
        "streams.LiveStream", on_delete=models.CASCADE, related_name="donations"
    )
    donor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="donations_given",
    )
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    message = models.TextField(null=True, blank=True)
    is_anonymous = models.BooleanField(null=True, default=False, db_default=False)
    payment_status = models.CharField(
        max_length=20,
        null=True,
        choices=PaymentStatus.choices,
        default=PaymentStatus.PENDING,
        db_default=PaymentStatus.PENDING,
    )
    created_at = models.DateTimeField(null=True, auto_now_add=True, db_default=Now())

    # The project's own columns (nullable or defaulted, so seed-only inserts still work).
    currency = models.CharField(max_length=3, null=True, blank=True)
    display_name = models.CharField(max_length=25, null=True, blank=True)
    payment_intent_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    flag_reason = models.CharField(max_length=50, null=True, blank=True, choices=FlagReason.choices)
    amount_refunded = models.DecimalField(max_digits=10, decimal_places=2, default=0, db_default=0)
    failure_code = models.CharField(max_length=100, null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "stream_donations"
        indexes = [
            models.Index(fields=["stream", "payment_status"], name="idx_donations_stream_status"),
            models.Index(fields=["completed_at"], name="idx_donations_completed_at"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    payment_status__in=["pending", "completed", "failed", "refunded"]
                )
                | models.Q(payment_status__isnull=True),
                name="stream_donations_payment_status_check",
            ),
        ]

    def __str__(self) -> str:
        return f"Donation {self.pk} of {self.amount} ({self.payment_status})"


class Transaction(models.Model):
    class Type(models.TextChoices):
        SALE = "sale", "Sale"
        PURCHASE = "purchase", "Purchase"
        COMMISSION = "commission", "Commission"
        WITHDRAWAL = "withdrawal", "Withdrawal"
        REFUND = "refund", "Refund"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="transactions"
    )
    transaction_type = models.CharField(max_length=20, choices=Type.choices)
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    fee_amount = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, default=0, db_default=0
    )
    net_amount = models.DecimalField(max_digits=10, decimal_places=2)
    reference_type = models.CharField(max_length=50, null=True, blank=True)
    reference_id = models.BigIntegerField(null=True, blank=True)
    payment_method = models.CharField(max_length=50, null=True, blank=True)
    payment_reference = models.CharField(max_length=255, null=True, blank=True)
    status = models.CharField(
        max_length=20,
        null=True,
        choices=Status.choices,
        default=Status.PENDING,
        db_default=Status.PENDING,
    )
    description = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(null=True, auto_now_add=True, db_default=Now())
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "transactions"
        indexes = [
            models.Index(fields=["user"], name="idx_transactions_user"),
            models.Index(fields=["transaction_type"], name="idx_transactions_type"),
            models.Index(fields=["created_at"], name="idx_transactions_created"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    transaction_type__in=["sale", "purchase", "commission", "withdrawal", "refund"]
                ),
                name="transactions_transaction_type_check",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["pending", "completed", "failed", "cancelled"])
                | models.Q(status__isnull=True),
                name="transactions_status_check",
            ),
            # At most one sale and one refund row per donation: a redelivered webhook
            # can never book money twice.
            models.UniqueConstraint(
                fields=["reference_type", "reference_id", "transaction_type"],
                condition=models.Q(reference_type="donation"),
                name="uniq_transactions_per_donation",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.transaction_type} {self.amount} for user {self.user_id}"


class StripeEvent(models.Model):
    """A Stripe event id we have processed. The unique constraint is what makes a
    redelivered (or concurrently delivered) event count once."""

    event_id = models.CharField(max_length=255, unique=True)
    event_type = models.CharField(max_length=100)
    payment_intent_id = models.CharField(max_length=255, null=True, blank=True)
    result = models.CharField(max_length=50, blank=True, default="", db_default="")
    received_at = models.DateTimeField(auto_now_add=True, db_default=Now())

    class Meta:
        db_table = "donations_stripe_events"

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} ({self.result})"


class OverlayToken(models.Model):
    """A streamer's secret OBS overlay token. Looked up by its SHA-256 digest and then
    compared in constant time; rotating replaces both."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="overlay_token"
    )
    token = models.CharField(max_length=100)
    token_digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())
    rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "donations_overlay_tokens"

    def __str__(self) -> str:
        return f"Overlay token of user {self.user_id}"


class StreamGoal(models.Model):
    """A stream's donation goal (SPEC §7 "Donation goal"): one row per stream, kept
    when the goal is cleared (``cleared_at``) so that ``version`` keeps growing for
    the stream's whole life.

    ``raised`` is what the stream's counted donations completed at or after
    ``set_at`` brought in, net of their refunds. It changes only in the transaction
    that completes or refunds a donation (``donations.goals.count_toward_goal``), or
    when the owner sets, edits or clears the goal; every change adds 1 to
    ``version``, so clients can drop an event older than what they show.
    """

    stream = models.OneToOneField(
        "streams.LiveStream", on_delete=models.CASCADE, related_name="goal"
    )
    title = models.CharField(max_length=100)
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    raised = models.DecimalField(max_digits=12, decimal_places=2, default=0, db_default=0)
    set_at = models.DateTimeField()
    cleared_at = models.DateTimeField(null=True, blank=True)
    version = models.BigIntegerField(default=1, db_default=1)
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "donations_stream_goals"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=0), name="donations_stream_goals_amount_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(version__gt=0), name="donations_stream_goals_version_positive"
            ),
        ]

    def __str__(self) -> str:
        state = "cleared" if self.cleared_at else f"{self.raised}/{self.amount}"
        return f"Goal of stream {self.stream_id}: {self.title} ({state})"
