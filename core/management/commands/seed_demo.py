"""Demo data for ``make run``: a streamer, a viewer and one scheduled stream, once."""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from streams.models import LiveStream
from streams.services import do_create_stream

CREDENTIALS_FILE = Path(settings.DATA_DIR) / "demo-credentials.json"


class Command(BaseCommand):
    help = "Create the demo streamer, viewer and stream if missing; print their logins."

    def handle(self, *args, **options) -> None:
        CREDENTIALS_FILE.parent.mkdir(parents=True, exist_ok=True)
        creds = json.loads(CREDENTIALS_FILE.read_text()) if CREDENTIALS_FILE.exists() else {}
        with transaction.atomic():
            for username, display_name in (
                ("streamer", "Demo Streamer"),
                ("viewer", "Demo Viewer"),
            ):
                user = User.objects.filter(username=username).first()
                if user is None or username not in creds:
                    password = secrets.token_urlsafe(9)
                    if user is None:
                        user = User.objects.create_user(
                            username=username,
                            email=f"{username}@example.com",
                            password=password,
                            display_name=display_name,
                        )
                    else:
                        user.set_password(password)
                        user.save(update_fields=["password"])
                    creds[username] = password
            streamer = User.objects.get(username="streamer")
            if not LiveStream.objects.filter(streamer=streamer).exists():
                do_create_stream(
                    streamer=streamer,
                    title="Demo stream",
                    description="Created by make run.",
                    scheduled_start=timezone.now() + timedelta(minutes=10),
                )
        CREDENTIALS_FILE.write_text(json.dumps(creds))
        CREDENTIALS_FILE.chmod(0o600)
        for username in ("streamer", "viewer"):
            self.stdout.write(f"  login: {username} / {creds[username]}")
