"""``/api/auth/*``: csrf, signup, login, logout, me (SPEC §5)."""

from __future__ import annotations

from django.contrib.auth import authenticate, login, logout
from django.middleware.csrf import get_token
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.serializers import private_user
from accounts.services import check_signup
from core.exceptions import ApplicationError, NotAuthenticated


class CsrfApi(APIView):
    @extend_schema(
        responses=inline_serializer("CsrfToken", {"csrf_token": serializers.CharField()})
    )
    def get(self, request: Request) -> Response:
        """Set the ``csrftoken`` cookie; send its value as ``X-CSRFToken``."""
        return Response({"csrf_token": get_token(request._request)})


class SignupApi(APIView):
    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=50, trim_whitespace=True)
        email = serializers.CharField(max_length=255)
        password = serializers.CharField(max_length=128, trim_whitespace=False)

    @extend_schema(request=InputSerializer, responses={201: dict})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = check_signup(**data.validated_data)
        login(request._request, user, backend="django.contrib.auth.backends.ModelBackend")
        return Response(private_user(user), status=201)


class LoginApi(APIView):
    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=255)
        password = serializers.CharField(max_length=128, trim_whitespace=False)

    @extend_schema(request=InputSerializer, responses={200: dict})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(request._request, **data.validated_data)
        if user is None:
            raise ApplicationError(
                "Wrong username or password.", code="invalid_credentials", status=401
            )
        login(request._request, user)
        return Response(private_user(user))


class LogoutApi(APIView):
    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        logout(request._request)
        return Response(status=204)


class MeApi(APIView):
    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> Response:
        if not request.user.is_authenticated:
            raise NotAuthenticated("Log in first.")
        return Response(private_user(request.user))
