"""``POST /webhooks/stripe/`` (SPEC §6).

verify signature → record the event id under a unique constraint → dispatch by type
→ ``do_*`` service → 200. Anything not genuinely from Stripe gets 400 and changes
nothing; unknown event types get 200; a database failure gets 5xx so Stripe retries.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.api import json_error
from core.metrics import WEBHOOK_EVENTS
from donations import stripe_gateway
from donations.services import EVENT_HANDLERS, do_process_stripe_event

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    try:
        event = stripe_gateway.construct_event(
            request.body, request.headers.get("Stripe-Signature")
        )
    except stripe_gateway.WebhookVerificationError as exc:
        logger.info("rejected a Stripe webhook: %s", exc)
        WEBHOOK_EVENTS.labels("unknown", "bad_signature").inc()
        return json_error("invalid_webhook", str(exc), 400)
    # A label only for the types we handle: the rest of Stripe's catalogue is "other".
    event_type = event["type"] if event["type"] in EVENT_HANDLERS else "other"
    try:
        result = do_process_stripe_event(event=event)
    except DatabaseError:
        logger.exception("Stripe event %s (%s) not processed", event["id"], event["type"])
        WEBHOOK_EVENTS.labels(event_type, "unavailable").inc()
        return json_error(
            "temporarily_unavailable", "Could not record the event; retry later.", 503
        )
    except Exception:
        WEBHOOK_EVENTS.labels(event_type, "error").inc()
        raise
    WEBHOOK_EVENTS.labels(event_type, result or "none").inc()
    return JsonResponse({"received": True, "result": result})
