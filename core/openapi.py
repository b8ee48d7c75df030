"""OpenAPI plumbing shared by every app's ``apis.py`` (SPEC §5): the error body as one
component, the error responses by status, and how the API authenticates.

Authentication is the Django session cookie; every unsafe request (POST, PATCH, PUT,
DELETE) must also carry the ``csrftoken`` cookie's value in ``X-CSRFToken`` (fetch
``GET /api/auth/csrf`` first), logged in or not. ``core.api.SessionAuthentication``
is described by two security schemes, ``cookieAuth`` and ``csrfToken``; an operation
states which of them it needs with one of the ``*_AUTH`` lists below
(``extend_schema(auth=...)``). Public reads keep the generated default: the session
cookie is optional.

Importing this module registers the authentication extension; the ``apis`` modules
import it for their error responses, so the extension is loaded whenever the URLconf is.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import SAFE_METHODS

COOKIE_AUTH = "cookieAuth"
CSRF_AUTH = "csrfToken"

# extend_schema(auth=...) values: a list of alternatives, each naming the schemes it needs.
LOGIN_AUTH: list[dict[str, list]] = [{COOKIE_AUTH: []}]
"""A logged-in user's safe request (GET)."""
LOGIN_CSRF_AUTH: list[dict[str, list]] = [{COOKIE_AUTH: [], CSRF_AUTH: []}]
"""A logged-in user's unsafe request: session cookie and CSRF header."""
CSRF_AUTH_ONLY: list[dict[str, list]] = [{CSRF_AUTH: []}]
"""An unsafe request anyone may make (signup, login, logout): CSRF header only."""
GUEST_OR_LOGIN_CSRF_AUTH: list[dict[str, list]] = [
    {COOKIE_AUTH: [], CSRF_AUTH: []},
    {CSRF_AUTH: []},
]
"""An unsafe request a guest or a logged-in user may make (a donation)."""


def _csrf_header_name() -> str:
    """``X-CSRFToken`` (Django's default ``CSRF_HEADER_NAME``), else the configured one."""
    if settings.CSRF_HEADER_NAME == "HTTP_X_CSRFTOKEN":
        return "X-CSRFToken"
    return settings.CSRF_HEADER_NAME.removeprefix("HTTP_").replace("_", "-")


class SessionCsrfScheme(OpenApiAuthenticationExtension):
    """``core.api.SessionAuthentication``: session cookie, CSRF header on unsafe methods."""

    target_class = "core.api.SessionAuthentication"
    name = [COOKIE_AUTH, CSRF_AUTH]

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, Any]]:
        return [
            {
                "type": "apiKey",
                "in": "cookie",
                "name": settings.SESSION_COOKIE_NAME,
                "description": "The Django session cookie, set by signup or login.",
            },
            {
                "type": "apiKey",
                "in": "header",
                "name": _csrf_header_name(),
                "description": "Every unsafe request (POST, PATCH, PUT, DELETE), logged in"
                f" or not: the value of the `{settings.CSRF_COOKIE_NAME}` cookie that"
                " `GET /api/auth/csrf` sets. Without it: 403 `csrf_failed`.",
            },
        ]

    def get_security_requirement(self, auto_schema: Any) -> list[dict[str, list]]:
        if auto_schema.method in SAFE_METHODS:
            return LOGIN_AUTH
        return LOGIN_CSRF_AUTH


# --------------------------------------------------------------------------- errors


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="Machine-readable: `validation_error`, `not_authenticated`, `forbidden`,"
        " `csrf_failed`, `account_inactive`, `not_found`, `invalid_transition`,"
        " `rate_limited`, ... (SPEC §5)."
    )
    message = serializers.CharField(help_text="For people; may change.")
    field = serializers.CharField(required=False, help_text="The input field at fault.")
    fields = serializers.DictField(
        required=False, help_text="Serializer validation: the messages by field."
    )
    retry_after = serializers.IntegerField(
        required=False, help_text="429: seconds to wait (also in `Retry-After`)."
    )
    status = serializers.CharField(required=False, help_text="409: the state the object is in now.")
    minimum = serializers.CharField(required=False, help_text="Smallest amount allowed.")
    maximum = serializers.CharField(required=False, help_text="Largest amount allowed.")


class ErrorSerializer(serializers.Serializer):
    """Every error: ``{"error": {"code", "message", ...}}``."""

    error = ErrorDetailSerializer()


ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Invalid input (`validation_error`, `invalid_json`, or a field-specific code).",
    401: "Not logged in (`not_authenticated`).",
    403: "Not allowed: not yours (`forbidden`), CSRF check failed (`csrf_failed`), or the"
    " account is suspended or deleted (`account_inactive`).",
    404: "No such object (`not_found`).",
    409: "Illegal state transition (`invalid_transition` or a specific code).",
    422: "The Idempotency-Key was used with a different body (`idempotency_key_reused`).",
    429: "Rate limited (`rate_limited`): retry after `Retry-After` seconds.",
    502: "The payment provider refused or failed the request.",
    503: "A backing service (payment provider, throttle store) is unavailable; retry later.",
}

RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    int,
    OpenApiParameter.HEADER,
    description="Seconds to wait before trying again.",
    response=[429],
)
"""Add to ``parameters`` of an operation that can answer 429."""


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    """``responses`` entries for these error statuses, all with the shared ``Error`` body."""
    return {
        status: OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[status])
        for status in statuses
    }
