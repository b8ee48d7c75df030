"""Donation and overlay endpoints (SPEC §5): parse → one service → serialize."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import throttle
from core.exceptions import Forbidden, NotAuthenticated, NotFound, ValidationFailed
from core.openapi import (
    GUEST_OR_LOGIN_CSRF_AUTH,
    LOGIN_AUTH,
    LOGIN_CSRF_AUTH,
    RETRY_AFTER,
    errors,
)
from donations import goals, selectors, services
from donations.models import OverlayToken, StreamDonation
from donations.schemas import DonationAlert, DonationCreated, Goal, GoalInput, Overlay
from streams.selectors import get_stream


def overlay_payload(request: Request, overlay: OverlayToken) -> dict:
    return {
        "token": overlay.token,
        "alerts_url": request.build_absolute_uri(f"/overlays/{overlay.token}/alerts/"),
        "goal_url": request.build_absolute_uri(f"/overlays/{overlay.token}/goal/"),
    }


def _no_store(response: Response) -> Response:
    response["Cache-Control"] = "no-store"
    return response


def _require_login(request: Request):
    if not request.user.is_authenticated:
        raise NotAuthenticated("Log in first.")
    return request.user


class DonationCreateApi(APIView):
    # Documents the body only: the service validates the raw JSON itself.
    @extend_schema_serializer(component_name="DonationCreateRequest")
    class DonationInputSerializer(serializers.Serializer):
        amount = serializers.CharField(
            help_text='Decimal string in major units, e.g. "500" (an integer is accepted'
            " too); within the currency's minimum and maximum."
        )
        currency = serializers.CharField(
            required=False, help_text="The stream's currency (the only one accepted)."
        )
        message = serializers.CharField(
            required=False, allow_null=True, max_length=services.MESSAGE_MAX_LENGTH
        )
        display_name = serializers.CharField(
            required=False, allow_null=True, max_length=services.DISPLAY_NAME_MAX_LENGTH
        )
        is_anonymous = serializers.BooleanField(required=False, default=False)

    @extend_schema(
        request=DonationInputSerializer,
        responses={201: DonationCreated, **errors(400, 403, 404, 409, 422, 429, 502, 503)},
        auth=GUEST_OR_LOGIN_CSRF_AUTH,
        description="Create a pending donation and its Stripe PaymentIntent (guests may"
        " donate; only a live stream accepts donations: 409 `stream_not_live`). The"
        " response is sent with `Cache-Control: no-store`.",
        parameters=[
            RETRY_AFTER,
            OpenApiParameter(
                "Idempotent-Replayed",
                str,
                OpenApiParameter.HEADER,
                enum=["true"],
                description="Present when this answers a repeat of an earlier request.",
                response=[201],
            ),
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="One per donation attempt: a repeat returns the same donation"
                " (with Idempotent-Replayed: true) for 24 h; reused with a different body"
                " → 422 idempotency_key_reused; while the first is running → 409.",
            ),
        ],
    )
    def post(self, request: Request, stream_id: int) -> Response:
        if not isinstance(request.data, dict):
            raise ValidationFailed("Send a JSON object.")
        if "amount" not in request.data:
            raise ValidationFailed("amount is required.", code="invalid_amount")
        data = request.data
        donor = request.user if request.user.is_authenticated else None
        ip = throttle.ip_identity(throttle.client_ip(request))
        limits = (throttle.Limit("donation-ip", ip, settings.THROTTLE_DONATION_IP),)
        if donor is not None:
            limits += (
                throttle.Limit("donation-account", donor.id, settings.THROTTLE_DONATION_ACCOUNT),
            )
        attempt = services.check_create_donation_once(
            idempotency_key=request.headers.get("Idempotency-Key"),
            requester=f"account:{donor.id}" if donor is not None else f"ip:{ip}",
            limits=limits,
            stream_id=stream_id,
            donor=donor,
            amount=data.get("amount"),
            currency=data.get("currency"),
            message=data.get("message"),
            display_name=data.get("display_name"),
            is_anonymous=data.get("is_anonymous", False),
        )
        donation = attempt.created.donation
        response = Response(
            {
                "id": donation.id,
                "status": donation.payment_status,
                "amount": f"{donation.amount:.2f}",
                "currency": donation.currency,
                "client_secret": attempt.created.client_secret,
                "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
            },
            status=201,
        )
        if attempt.replayed:
            response["Idempotent-Replayed"] = "true"
        return _no_store(response)


class OverlayApi(APIView):
    @extend_schema(responses={200: Overlay, **errors(401, 403)}, auth=LOGIN_AUTH)
    def get(self, request: Request) -> Response:
        user = _require_login(request)
        overlay = services.get_or_create_overlay_token(user=user)
        return _no_store(Response(overlay_payload(request, overlay)))


class OverlayRotateApi(APIView):
    @extend_schema(request=None, responses={200: Overlay, **errors(401, 403)}, auth=LOGIN_CSRF_AUTH)
    def post(self, request: Request) -> Response:
        user = _require_login(request)
        overlay = services.do_rotate_overlay_token(user=user)
        return _no_store(Response(overlay_payload(request, overlay)))


class OverlayTestApi(APIView):
    @extend_schema(
        request=None,
        responses={202: DonationAlert, **errors(401, 403, 429, 503)},
        parameters=[RETRY_AFTER],
        auth=LOGIN_CSRF_AUTH,
        description="Send a test alert (`test: true`) to the streamer's overlays.",
    )
    def post(self, request: Request) -> Response:
        user = _require_login(request)
        throttle.take(
            throttle.Limit("overlay-test-account", user.id, settings.THROTTLE_OVERLAY_TEST_ACCOUNT),
            message="Too many test alerts; wait a moment.",
        )
        return Response(services.send_test_alert(user=user), status=202)


class DonationReplayApi(APIView):
    @extend_schema(
        request=None,
        responses={202: DonationAlert, **errors(401, 403, 404, 409)},
        auth=LOGIN_CSRF_AUTH,
        description="Re-send a completed donation's alert (`replay: true`) to the owner's"
        " overlays.",
    )
    def post(self, request: Request, donation_id: int) -> Response:
        user = _require_login(request)
        event = services.check_replay_donation(user=user, donation_id=donation_id)
        return Response(event, status=202)


class OwnerDonation(serializers.Serializer):
    """One donation in the owner's list (no donor email, no payment ids)."""

    id = serializers.IntegerField()
    display_name = serializers.CharField(help_text='"Anonymous" when anonymous.')
    amount = serializers.DecimalField(max_digits=10, decimal_places=2, coerce_to_string=True)
    amount_refunded = serializers.DecimalField(
        max_digits=10, decimal_places=2, coerce_to_string=True
    )
    currency = serializers.CharField()
    message = serializers.CharField(allow_blank=True)
    status = serializers.ChoiceField(choices=StreamDonation.PaymentStatus.choices)
    flag_reason = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)


class OwnerDonationPage(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = OwnerDonation(many=True)


class DonationPagination(PageNumberPagination):
    """Paged like ``GET /api/streams``: 20 per page, ``?page_size=`` up to 100."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


class DonationListCreateApi(DonationCreateApi):
    """``/api/streams/{id}/donations``: POST creates (guests too), GET lists (owner)."""

    @extend_schema(
        operation_id="streams_donations_list",
        parameters=[
            OpenApiParameter("page", int, description="1-based page number."),
            OpenApiParameter("page_size", int, description="Default 20, at most 100."),
        ],
        responses={200: OwnerDonationPage, **errors(401, 403, 404)},
        auth=LOGIN_AUTH,
        description="The stream's completed, refunded and flagged donations, newest first"
        " (the owner only). Pending and failed attempts are left out.",
    )
    def get(self, request: Request, stream_id: int) -> Response:
        user = _require_login(request)
        stream = get_stream(stream_id)
        if stream is None:
            raise NotFound("Stream not found.")
        if stream.streamer_id != user.id:
            raise Forbidden("Only the stream's owner may see its donations.")
        paginator = DonationPagination()
        page = paginator.paginate_queryset(
            selectors.stream_donations_for_owner(stream.id), request, view=self
        )
        response = paginator.get_paginated_response(
            [selectors.owner_donation_payload(d) for d in page]
        )
        return _no_store(response)


class DonationTestCompleteApi(APIView):
    """SPEC §9 "Local payments": the watch page's test-mode "Complete payment" step."""

    @extend_schema_serializer(component_name="DonationTestCompleteRequest")
    class TestCompleteInputSerializer(serializers.Serializer):
        client_secret = serializers.CharField(
            help_text="The client_secret the donation's create response gave (proves it is yours)."
        )
        outcome = serializers.ChoiceField(
            choices=["succeed", "decline"], required=False, default="succeed"
        )

    @extend_schema_serializer(component_name="DonationTestCompleted")
    class TestCompletedSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        outcome = serializers.ChoiceField(choices=["succeeded", "declined"])
        payment_intent_status = serializers.CharField()
        message = serializers.CharField()

    @extend_schema(
        request=TestCompleteInputSerializer,
        responses={202: TestCompletedSerializer, **errors(400, 403, 404, 409, 502, 503)},
        auth=GUEST_OR_LOGIN_CSRF_AUTH,
        description="Local test mode only (test-mode keys and `STRIPE_API_BASE` on this"
        " machine; 404 otherwise): the local Stripe-compatible server confirms the"
        " donation's PaymentIntent (`outcome: decline` simulates a declined card) and then"
        " delivers the signed webhook that completes (or fails) the donation. No real"
        " money moves.",
    )
    def post(self, request: Request, donation_id: int) -> Response:
        if not isinstance(request.data, dict):
            raise ValidationFailed("Send a JSON object.")
        result = services.check_complete_test_payment(
            donation_id=donation_id,
            client_secret=request.data.get("client_secret"),
            outcome=request.data.get("outcome", "succeed"),
        )
        return _no_store(Response(result, status=202))


class GoalApi(APIView):
    """``/api/streams/{id}/goal`` (SPEC §7 "Donation goal"): the owner sets, edits or
    clears the stream's goal while it is scheduled or live."""

    @extend_schema(
        operation_id="streams_goal_set",
        request=GoalInput,
        responses={200: Goal, **errors(400, 401, 403, 404, 409)},
        auth=LOGIN_CSRF_AUTH,
        description="Set the stream's donation goal. Without a running goal it starts at"
        " 0 now (donations completed from now on count); with one, the title and amount"
        " change and the progress stays, unless `reset: true` starts it over. Errors:"
        " 400 `title_required`, `title_too_long`, `invalid_title`, `invalid_amount`,"
        " `amount_too_small`, `amount_too_large`, `invalid_reset`; 409 `stream_closed`"
        " once the stream ended or was cancelled. A `goal` event goes to the room, the"
        " dashboard and the streamer's overlays.",
    )
    def put(self, request: Request, stream_id: int) -> Response:
        user = _require_login(request)
        if not isinstance(request.data, dict):
            raise ValidationFailed("Send a JSON object.")
        goal = goals.check_set_goal(
            user=user,
            stream_id=stream_id,
            title=request.data.get("title"),
            amount=request.data.get("amount"),
            reset=request.data.get("reset", False),
        )
        return _no_store(Response(goals.goal_payload(goal)))

    @extend_schema(
        operation_id="streams_goal_clear",
        request=None,
        responses={204: None, **errors(401, 403, 404, 409)},
        auth=LOGIN_CSRF_AUTH,
        description="Clear the stream's goal (204 also when there was none). A new goal"
        " set afterwards starts at 0.",
    )
    def delete(self, request: Request, stream_id: int) -> Response:
        user = _require_login(request)
        goals.check_clear_goal(user=user, stream_id=stream_id)
        return Response(status=204)
