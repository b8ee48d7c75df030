"""OpenAPI shapes of the EXP payloads (``gamification.apis``), for the schema only."""

from __future__ import annotations

from rest_framework import serializers


class ExpEntry(serializers.Serializer):
    """``gamification.apis.exp_entry``."""

    id = serializers.IntegerField()
    action_type = serializers.CharField()
    exp_gained = serializers.IntegerField()
    reference_type = serializers.CharField(allow_null=True)
    reference_id = serializers.IntegerField(allow_null=True)
    description = serializers.CharField()
    created_at = serializers.DateTimeField(allow_null=True)


class ExpLog(serializers.Serializer):
    total_exp = serializers.IntegerField()
    current_level = serializers.IntegerField()
    next_level_exp = serializers.IntegerField(help_text="Total EXP the next level needs.")
    entries = ExpEntry(many=True, help_text="Newest first.")
    next_before = serializers.IntegerField(
        allow_null=True, help_text="Pass as `before=` for the next page; null at the end."
    )
