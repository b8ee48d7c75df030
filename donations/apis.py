"""Donation and overlay endpoints (SPEC §5): parse → one service → serialize."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.exceptions import NotAuthenticated, ValidationFailed
from donations import services
from donations.models import OverlayToken


def overlay_payload(request: Request, overlay: OverlayToken) -> dict:
    return {
        "token": overlay.token,
        "alerts_url": request.build_absolute_uri(f"/overlays/{overlay.token}/alerts/"),
    }


def _no_store(response: Response) -> Response:
    response["Cache-Control"] = "no-store"
    return response


def _require_login(request: Request):
    if not request.user.is_authenticated:
        raise NotAuthenticated("Log in first.")
    return request.user


class DonationCreateApi(APIView):
    class DonationInputSerializer(serializers.Serializer):
        amount = serializers.JSONField(help_text='Decimal string in major units, e.g. "500".')
        currency = serializers.JSONField(required=False)
        message = serializers.JSONField(required=False)
        display_name = serializers.JSONField(required=False)
        is_anonymous = serializers.JSONField(required=False)

    @extend_schema(request=DonationInputSerializer, responses={201: dict})
    def post(self, request: Request, stream_id: int) -> Response:
        if not isinstance(request.data, dict):
            raise ValidationFailed("Send a JSON object.")
        if "amount" not in request.data:
            raise ValidationFailed("amount is required.", code="invalid_amount")
        data = request.data
        created = services.check_create_donation(
            stream_id=stream_id,
            donor=request.user if request.user.is_authenticated else None,
            amount=data.get("amount"),
            currency=data.get("currency"),
            message=data.get("message"),
            display_name=data.get("display_name"),
            is_anonymous=data.get("is_anonymous", False),
        )
        donation = created.donation
        return _no_store(
            Response(
                {
                    "id": donation.id,
                    "status": donation.payment_status,
                    "amount": f"{donation.amount:.2f}",
                    "currency": donation.currency,
                    "client_secret": created.client_secret,
                    "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
                },
                status=201,
            )
        )


class OverlayApi(APIView):
    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> Response:
        user = _require_login(request)
        overlay = services.get_or_create_overlay_token(user=user)
        return _no_store(Response(overlay_payload(request, overlay)))


class OverlayRotateApi(APIView):
    @extend_schema(request=None, responses={200: dict})
    def post(self, request: Request) -> Response:
        user = _require_login(request)
        overlay = services.do_rotate_overlay_token(user=user)
        return _no_store(Response(overlay_payload(request, overlay)))


class OverlayTestApi(APIView):
    @extend_schema(request=None, responses={202: dict})
    def post(self, request: Request) -> Response:
        user = _require_login(request)
        return Response(services.send_test_alert(user=user), status=202)


class DonationReplayApi(APIView):
    @extend_schema(request=None, responses={202: dict})
    def post(self, request: Request, donation_id: int) -> Response:
        user = _require_login(request)
        event = services.check_replay_donation(user=user, donation_id=donation_id)
        return Response(event, status=202)
