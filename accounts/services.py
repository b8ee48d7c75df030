"""Account writes: signup; the login check of a suspended account."""

from __future__ import annotations

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from accounts.models import User
from core.exceptions import ValidationFailed


def check_signup(*, username: str, email: str, password: str) -> User:
    """Validate untrusted signup input, then create the user."""
    username = (username or "").strip()
    email = (email or "").strip()
    if not username or len(username) > 50:
        raise ValidationFailed("username must be 1-50 characters.", extra={"field": "username"})
    try:
        User._meta.get_field("username").run_validators(username)
    except DjangoValidationError as exc:
        raise ValidationFailed(
            "username may contain only letters, digits and @/./+/-/_.",
            extra={"field": "username"},
        ) from exc
    try:
        validate_email(email)
    except DjangoValidationError as exc:
        raise ValidationFailed("email is not a valid address.", extra={"field": "email"}) from exc
    if len(email) > 255:
        raise ValidationFailed("email is too long.", extra={"field": "email"})
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationFailed(
            "A user with that username already exists.",
            code="username_taken",
            extra={"field": "username"},
        )
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationFailed(
            "A user with that email already exists.", code="email_taken", extra={"field": "email"}
        )
    candidate = User(username=username, email=email)
    try:
        password_validation.validate_password(password or "", user=candidate)
    except DjangoValidationError as exc:
        raise ValidationFailed(" ".join(exc.messages), extra={"field": "password"}) from exc
    return do_signup(username=username, email=email, password=password)


def do_signup(*, username: str, email: str, password: str) -> User:
    try:
        with transaction.atomic():
            return User.objects.create_user(username=username, email=email, password=password)
    except IntegrityError as exc:  # a concurrent signup took the name between check and insert
        raise ValidationFailed(
            "A user with that username or email already exists.", code="username_taken"
        ) from exc


def inactive_account_matches(*, username: str, password: str) -> bool:
    """Whether these are the right credentials of a suspended or deleted account, so
    the login answer can say why it failed (a wrong password learns nothing). Costs a
    password hash only when such an account exists."""
    user = User.objects.filter(username=username).first()
    if user is None or user.account_is_active:
        return False
    return user.check_password(password)
