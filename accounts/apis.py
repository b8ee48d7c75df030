"""``/api/auth/*``: csrf, signup, login, logout, me (SPEC §5)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import authenticate, login, logout
from django.middleware.csrf import get_token
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.middleware import ACCOUNT_INACTIVE_MESSAGE
from accounts.schemas import CsrfToken, PrivateUser
from accounts.serializers import private_user
from accounts.services import check_signup, inactive_account_matches
from core import throttle
from core.exceptions import ApplicationError, NotAuthenticated
from core.openapi import CSRF_AUTH_ONLY, LOGIN_AUTH, RETRY_AFTER, errors


class CsrfApi(APIView):
    @extend_schema(responses={200: CsrfToken})
    def get(self, request: Request) -> Response:
        """Set the ``csrftoken`` cookie; send its value as ``X-CSRFToken``."""
        return Response({"csrf_token": get_token(request._request)})


class SignupApi(APIView):
    @extend_schema_serializer(component_name="SignupRequest")
    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=50, trim_whitespace=True)
        email = serializers.CharField(max_length=255)
        password = serializers.CharField(max_length=128, trim_whitespace=False)

    @extend_schema(
        request=InputSerializer,
        responses={201: PrivateUser, **errors(400, 403, 429, 503)},
        parameters=[RETRY_AFTER],
        auth=CSRF_AUTH_ONLY,
        description="Create an account and log in (201: the new user, session cookie set).",
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # Every attempt counts (it probes which usernames and emails exist); of the
        # accounts-created limit, an attempt that creates nothing is given back.
        message = "Too many signups from your network; try again later."
        throttle.take(
            throttle.ip_limit("signup-attempt-ip", request, settings.THROTTLE_SIGNUP_ATTEMPT_IP),
            message=message,
        )
        slot = throttle.take(
            throttle.ip_limit("signup-ip", request, settings.THROTTLE_SIGNUP_IP), message=message
        )
        try:
            user = check_signup(**data.validated_data)
        except ApplicationError:
            slot.release()
            raise
        login(request._request, user, backend="accounts.backends.AccountStatusBackend")
        return Response(private_user(user), status=201)


class LoginApi(APIView):
    @extend_schema_serializer(component_name="LoginRequest")
    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=255)
        password = serializers.CharField(max_length=128, trim_whitespace=False)

    @extend_schema(
        request=InputSerializer,
        responses={200: PrivateUser, **errors(400, 401, 403, 429, 503)},
        parameters=[RETRY_AFTER],
        auth=CSRF_AUTH_ONLY,
        description="Log in (session cookie set). 401 `invalid_credentials`;"
        " 403 `account_inactive` for a suspended or deleted account.",
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # Brute-force protection counts failed logins per account and per client IP.
        # The attempt is counted before the password is checked (so parallel guesses
        # cannot overrun the limit) and given back when it succeeds. Usernames are
        # unique case-insensitively: every spelling counts against the same account.
        slot = throttle.take(
            throttle.Limit(
                "login-account",
                data.validated_data["username"].strip().casefold(),
                settings.THROTTLE_LOGIN_ACCOUNT,
            ),
            throttle.ip_limit("login-ip", request, settings.THROTTLE_LOGIN_IP),
            message="Too many failed logins; try again later.",
        )
        user = authenticate(request._request, **data.validated_data)
        if user is None:
            if inactive_account_matches(**data.validated_data):
                raise ApplicationError(
                    ACCOUNT_INACTIVE_MESSAGE, code="account_inactive", status=403
                )
            raise ApplicationError(
                "Wrong username or password.", code="invalid_credentials", status=401
            )
        slot.release()
        login(request._request, user)
        return Response(private_user(user))


class LogoutApi(APIView):
    @extend_schema(request=None, responses={204: None, **errors(403)}, auth=CSRF_AUTH_ONLY)
    def post(self, request: Request) -> Response:
        logout(request._request)
        return Response(status=204)


class MeApi(APIView):
    @extend_schema(responses={200: PrivateUser, **errors(401, 403)}, auth=LOGIN_AUTH)
    def get(self, request: Request) -> Response:
        if not request.user.is_authenticated:
            raise NotAuthenticated("Log in first.")
        return Response(private_user(request.user))
