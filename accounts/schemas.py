"""OpenAPI shapes of the user payloads (``accounts.serializers``), for the schema only."""

from __future__ import annotations

from rest_framework import serializers


class PublicUser(serializers.Serializer):
    """``accounts.serializers.public_user``: a streamer or chat author."""

    id = serializers.IntegerField()
    username = serializers.CharField()
    display_name = serializers.CharField(help_text="The username when none is set.")
    current_level = serializers.IntegerField()


class PrivateUser(PublicUser):
    """``accounts.serializers.private_user``: the logged-in user's own view."""

    email = serializers.CharField()
    total_exp = serializers.IntegerField()
    date_joined = serializers.DateTimeField(allow_null=True)


class CsrfToken(serializers.Serializer):
    csrf_token = serializers.CharField(help_text="Send it back as `X-CSRFToken`.")
