"""Test data, built through the real models."""

from __future__ import annotations

import itertools

from accounts.models import User
from streams.keys import new_stream_key
from streams.models import LiveStream

_seq = itertools.count(1)
PASSWORD = "correct-horse-battery-9"


def make_user(username: str | None = None, **fields) -> User:
    n = next(_seq)
    username = username or f"user{n}"
    fields.setdefault("email", f"{username}@example.com")
    return User.objects.create_user(username=username, password=PASSWORD, **fields)


def make_stream(streamer: User | None = None, **fields) -> LiveStream:
    streamer = streamer or make_user()
    fields.setdefault("title", f"Stream {next(_seq)}")
    fields.setdefault("stream_key", new_stream_key())
    return LiveStream.objects.create(streamer=streamer, **fields)
