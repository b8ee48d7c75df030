"""``GET /api/me/exp?limit=&before=``: the logged-in user's EXP log (SPEC §5)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.exceptions import NotAuthenticated
from core.openapi import LOGIN_AUTH, errors
from gamification import selectors
from gamification.models import UserExpLog
from gamification.schemas import ExpLog
from gamification.services import exp_for_level, level_for_exp


def exp_entry(entry: UserExpLog) -> dict[str, Any]:
    return {
        "id": entry.id,
        "action_type": entry.action_type_id,
        "exp_gained": entry.exp_gained,
        "reference_type": entry.reference_type,
        "reference_id": entry.reference_id,
        "description": entry.description or "",
        "created_at": entry.created_at.isoformat() if entry.created_at else None,
    }


class MyExpApi(APIView):
    class QuerySerializer(serializers.Serializer):
        limit = serializers.IntegerField(
            min_value=1, max_value=100, default=20, help_text="At most 100."
        )
        before = serializers.IntegerField(
            min_value=1, required=False, help_text="Only entries older than this id."
        )

    @extend_schema(
        parameters=[QuerySerializer],
        responses={200: ExpLog, **errors(400, 401, 403)},
        auth=LOGIN_AUTH,
    )
    def get(self, request: Request) -> Response:
        if not request.user.is_authenticated:
            raise NotAuthenticated("Log in first.")
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        limit = query.validated_data["limit"]
        entries = selectors.exp_log(
            user_id=request.user.id, limit=limit + 1, before=query.validated_data.get("before")
        )
        has_more = len(entries) > limit
        entries = entries[:limit]
        total = request.user.total_exp or 0
        level = level_for_exp(total)
        return Response(
            {
                "total_exp": total,
                "current_level": level,
                "next_level_exp": exp_for_level(level + 1),
                "entries": [exp_entry(e) for e in entries],
                "next_before": entries[-1].id if has_more else None,
            }
        )
