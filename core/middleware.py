"""The base of the project's middleware: one class that runs in Django's sync and
async request paths alike (no thread hop added under ASGI). Django's own middleware,
made the same way, is in ``core/async_middleware.py``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest


class HybridMiddleware:
    """Subclasses implement ``handle`` (sync path) and ``ahandle`` (async path)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.ahandle(request)
        return self.handle(request)

    def handle(self, request: HttpRequest) -> Any:
        raise NotImplementedError

    async def ahandle(self, request: HttpRequest) -> Any:
        raise NotImplementedError
