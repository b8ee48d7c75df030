"""``/api/me/webhooks*`` (SPEC §7a): parse → one service → serialize.

The secret appears in the create response only (``Cache-Control: no-store``).
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import throttle
from core.exceptions import NotAuthenticated, ValidationFailed
from core.inputs import MAX_ID
from core.openapi import LOGIN_AUTH, LOGIN_CSRF_AUTH, RETRY_AFTER, errors
from webhooks import event_types, selectors, services
from webhooks.schemas import (
    Webhook,
    WebhookCreated,
    WebhookDelivery,
    WebhookDeliveryPage,
    WebhookList,
)


def _user(request: Request):
    if not request.user.is_authenticated:
        raise NotAuthenticated("Log in first.")
    return request.user


def _no_store(response: Response) -> Response:
    response["Cache-Control"] = "no-store"
    return response


class WebhookListCreateApi(APIView):
    # Documents the body only: the service validates the raw JSON itself.
    @extend_schema_serializer(component_name="WebhookCreateRequest")
    class InputSerializer(serializers.Serializer):
        url = serializers.CharField(
            max_length=500,
            help_text="https:// or http://, no user name or password. Private and loopback"
            " addresses only when the operator lists them (WEBHOOK_ALLOWED_HOSTS).",
        )
        events = serializers.ListField(
            child=serializers.ChoiceField(choices=event_types.EVENT_TYPES), min_length=1
        )

    @extend_schema(
        operation_id="me_webhooks_list",
        responses={200: WebhookList, **errors(401, 403)},
        auth=LOGIN_AUTH,
    )
    def get(self, request: Request) -> Response:
        user = _user(request)
        items = [selectors.subscription_payload(s) for s in selectors.subscriptions_of(user.id)]
        return _no_store(Response({"items": items}))

    @extend_schema(
        request=InputSerializer,
        responses={201: WebhookCreated, **errors(400, 401, 403, 409, 429, 503)},
        parameters=[RETRY_AFTER],
        auth=LOGIN_CSRF_AUTH,
        description="Subscribe a URL to events. The host is resolved now and before every"
        " delivery: a host that does not resolve, or resolves to a private, loopback,"
        " link-local or otherwise non-public address the operator has not listed, is 400"
        " `webhook_url_not_allowed`. At most WEBHOOK_MAX_SUBSCRIPTIONS (10) per account:"
        " 409 `webhook_limit_reached`. The `secret` is shown only in this response.",
    )
    def post(self, request: Request) -> Response:
        user = _user(request)
        if not isinstance(request.data, dict):
            raise ValidationFailed("Send a JSON object with url and events.")
        throttle.take(
            throttle.Limit(
                "webhook-create-account", user.id, settings.THROTTLE_WEBHOOK_CREATE_ACCOUNT
            ),
            message="Too many webhooks added; wait a while.",
        )
        created = services.check_create_subscription(
            owner=user, url=request.data.get("url"), events=request.data.get("events")
        )
        payload = {
            **selectors.subscription_payload(created.subscription),
            "secret": created.secret,
        }
        return _no_store(Response(payload, status=201))


class WebhookDetailApi(APIView):
    @extend_schema(responses={200: Webhook, **errors(401, 403, 404)}, auth=LOGIN_AUTH)
    def get(self, request: Request, subscription_id: int) -> Response:
        user = _user(request)
        subscription = services.access_subscription(user, subscription_id)
        return _no_store(Response(selectors.subscription_payload(subscription)))

    @extend_schema(
        request=None,
        responses={204: None, **errors(401, 403, 404)},
        auth=LOGIN_CSRF_AUTH,
        description="Delete the webhook and its delivery log; its pending events are not sent.",
    )
    def delete(self, request: Request, subscription_id: int) -> Response:
        user = _user(request)
        services.do_delete_subscription(user=user, subscription_id=subscription_id)
        return Response(status=204)


class WebhookDeliveriesApi(APIView):
    class QuerySerializer(serializers.Serializer):
        before = serializers.IntegerField(
            required=False,
            min_value=1,
            max_value=MAX_ID,
            help_text="Only rows older than this id (`next_before` of the previous page).",
        )
        limit = serializers.IntegerField(
            required=False,
            min_value=1,
            max_value=selectors.DELIVERY_PAGE_MAX,
            default=selectors.DELIVERY_PAGE_DEFAULT,
            help_text=f"At most {selectors.DELIVERY_PAGE_MAX}.",
        )

    @extend_schema(
        operation_id="me_webhooks_deliveries_list",
        parameters=[QuerySerializer],
        responses={200: WebhookDeliveryPage, **errors(400, 401, 403, 404)},
        auth=LOGIN_AUTH,
        description="The delivery log, latest first: event id, type, attempts, last"
        " status, next retry.",
    )
    def get(self, request: Request, subscription_id: int) -> Response:
        user = _user(request)
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        subscription = services.access_subscription(user, subscription_id)
        rows, next_before = selectors.delivery_page(
            subscription_id=subscription.id,
            before=query.validated_data.get("before"),
            limit=query.validated_data["limit"],
        )
        items = [selectors.delivery_payload(d) for d in rows]
        return _no_store(Response({"items": items, "next_before": next_before}))


class WebhookTestApi(APIView):
    @extend_schema(
        request=None,
        responses={202: WebhookDelivery, **errors(401, 403, 404, 409, 429, 503)},
        parameters=[RETRY_AFTER],
        auth=LOGIN_CSRF_AUTH,
        description="Queue a `webhook.test` event for this webhook (whatever events it"
        " asked for). It is signed and delivered like the others, after the events already"
        " waiting; follow it in the delivery log.",
    )
    def post(self, request: Request, subscription_id: int) -> Response:
        user = _user(request)
        subscription = services.access_subscription(user, subscription_id)
        throttle.take(
            throttle.Limit("webhook-test-account", user.id, settings.THROTTLE_WEBHOOK_TEST_ACCOUNT),
            message="Too many test events; wait a moment.",
        )
        delivery = services.do_send_test_event(user=user, subscription_id=subscription.id)
        return _no_store(Response(selectors.delivery_payload(delivery), status=202))
