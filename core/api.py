"""REST plumbing: session auth that always enforces CSRF, and the SPEC's error body.

Errors leave as ``{"error": {"code": ..., "message": ...}}`` with 400, 401, 403, 404,
409 or 429 (+ ``Retry-After``).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework import status
from rest_framework.authentication import SessionAuthentication as DRFSessionAuthentication
from rest_framework.response import Response

from core.exceptions import ApplicationError


class SessionAuthentication(DRFSessionAuthentication):
    """Django session auth that enforces CSRF on every unsafe request.

    DRF's own class checks CSRF only for logged-in users; signup and login must be
    protected too (login CSRF).
    """

    def authenticate(self, request: Any) -> tuple[Any, None] | None:
        self.enforce_csrf(request)
        user = getattr(request._request, "user", None)
        if not user or not user.is_active:
            return None
        return (user, None)

    def enforce_csrf(self, request: Any) -> None:
        try:
            super().enforce_csrf(request)
        except drf.PermissionDenied as exc:
            raise ApplicationError(
                "CSRF token missing or incorrect: fetch /api/auth/csrf and send X-CSRFToken.",
                code="csrf_failed",
                status=403,
            ) from exc


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def error_response(exc: ApplicationError) -> Response:
    response = Response(error_body(exc.code, exc.message, **exc.extra), status=exc.status)
    if "retry_after" in exc.extra:
        response["Retry-After"] = str(exc.extra["retry_after"])
    return response


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            inner = _first_message(value)
            return inner if key == "non_field_errors" else f"{key}: {inner}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        return error_response(exc)
    if isinstance(exc, drf.ValidationError):
        return Response(
            error_body("validation_error", _first_message(exc.detail), fields=exc.detail),
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, drf.ParseError):
        return Response(error_body("invalid_json", str(exc.detail)), status=400)
    if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        return Response(error_body("not_authenticated", "Log in first."), status=401)
    if isinstance(exc, drf.PermissionDenied | DjangoPermissionDenied):
        return Response(error_body("forbidden", "You may not do this."), status=403)
    if isinstance(exc, drf.NotFound | Http404):
        return Response(error_body("not_found", "Not found."), status=404)
    if isinstance(exc, drf.MethodNotAllowed):
        return Response(error_body("method_not_allowed", str(exc.detail)), status=405)
    if isinstance(exc, drf.UnsupportedMediaType):
        return Response(error_body("unsupported_media_type", str(exc.detail)), status=415)
    if isinstance(exc, drf.Throttled):
        wait = int(exc.wait or 1)
        response = Response(
            error_body("rate_limited", "Too many requests.", retry_after=wait), status=429
        )
        response["Retry-After"] = str(wait)
        return response
    if isinstance(exc, drf.APIException):
        return Response(error_body(exc.default_code, str(exc.detail)), status=exc.status_code)
    return None


def json_error(code: str, message: str, status_code: int) -> JsonResponse:
    """The error body for plain Django views (404/500 handlers, non-DRF endpoints)."""
    return JsonResponse(error_body(code, message), status=status_code)
