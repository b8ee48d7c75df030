"""The platform's ``users`` table (seed §2.1.1) as Django's user model.

Seed columns keep their names, types, defaults and CHECKs. Django's own password
column is stored in the seed's ``password_hash``. AbstractUser's extra columns
(``first_name``, ``is_staff``, ...) carry database defaults, so other parts of the
platform can keep inserting rows that name only seed columns.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.db import models
from django.db.models.functions import Now

from core.fields import FixedCharField


class User(AbstractUser):
    class Gender(models.TextChoices):
        MALE = "M", "Male"
        FEMALE = "F", "Female"
        OTHER = "O", "Other"

    class AccountStatus(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        DELETED = "deleted", "Deleted"

    class SubscriptionType(models.TextChoices):
        FREE = "free", "Free"
        PREMIUM = "premium", "Premium"
        PRO = "pro", "Pro"

    # Seed columns shared with Django's AbstractUser, narrowed to the seed's types.
    username = models.CharField(
        max_length=50,
        unique=True,
        validators=[UnicodeUsernameValidator()],
        error_messages={"unique": "A user with that username already exists."},
    )
    email = models.EmailField(max_length=255, unique=True)
    password = models.CharField(max_length=255, db_column="password_hash")

    # AbstractUser's own columns: defaults in the database too.
    first_name = models.CharField(max_length=150, blank=True, db_default="")
    last_name = models.CharField(max_length=150, blank=True, db_default="")
    is_staff = models.BooleanField(default=False, db_default=False)
    is_superuser = models.BooleanField(default=False, db_default=False)
    is_active = models.BooleanField(default=True, db_default=True)
    date_joined = models.DateTimeField(auto_now_add=True, db_default=Now())

    # Seed-only columns.
    display_name = models.CharField(max_length=100, null=True, blank=True)
    bio = models.TextField(null=True, blank=True)
    avatar_url = models.CharField(max_length=500, null=True, blank=True)
    website_url = models.CharField(max_length=500, null=True, blank=True)
    location = models.CharField(max_length=100, null=True, blank=True)
    birth_date = models.DateField(null=True, blank=True)
    gender = FixedCharField(max_length=1, choices=Gender.choices, null=True, blank=True)
    phone_number = models.CharField(max_length=20, null=True, blank=True)
    is_email_verified = models.BooleanField(null=True, default=False, db_default=False)
    is_phone_verified = models.BooleanField(null=True, default=False, db_default=False)
    account_status = models.CharField(
        max_length=20,
        null=True,
        choices=AccountStatus.choices,
        default=AccountStatus.ACTIVE,
        db_default=AccountStatus.ACTIVE,
    )
    subscription_type = models.CharField(
        max_length=20,
        null=True,
        choices=SubscriptionType.choices,
        default=SubscriptionType.FREE,
        db_default=SubscriptionType.FREE,
    )
    total_exp = models.BigIntegerField(null=True, default=0, db_default=0)
    current_level = models.IntegerField(null=True, default=1, db_default=1)
    fan_count = models.IntegerField(null=True, default=0, db_default=0)
    fanning_count = models.IntegerField(null=True, default=0, db_default=0)
    created_at = models.DateTimeField(null=True, auto_now_add=True, db_default=Now())
    updated_at = models.DateTimeField(null=True, auto_now=True, db_default=Now())

    class Meta:
        db_table = "users"
        indexes = [
            models.Index(fields=["username"], name="idx_users_username"),
            models.Index(fields=["email"], name="idx_users_email"),
            models.Index(fields=["current_level"], name="idx_users_level"),
            models.Index(fields=["total_exp"], name="idx_users_exp"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(gender__in=["M", "F", "O"]) | models.Q(gender__isnull=True),
                name="users_gender_check",
            ),
            models.CheckConstraint(
                condition=models.Q(account_status__in=["active", "suspended", "deleted"])
                | models.Q(account_status__isnull=True),
                name="users_account_status_check",
            ),
            models.CheckConstraint(
                condition=models.Q(subscription_type__in=["free", "premium", "pro"])
                | models.Q(subscription_type__isnull=True),
                name="users_subscription_type_check",
            ),
        ]

    def __str__(self) -> str:
        return self.username

    @property
    def account_is_active(self) -> bool:
        """The platform's switch (SPEC §5 "Accounts"): a ``suspended`` or ``deleted``
        account (or one Django deactivated) cannot log in, and its sessions, chat,
        dashboard and stream keys stop working at once. NULL counts as active."""
        return bool(self.is_active) and (self.account_status or "active") == "active"

    @property
    def public_name(self) -> str:
        return self.display_name or self.username
