"""WebSocket routes, collected from the apps that declare them."""

from __future__ import annotations

from importlib import import_module

from django.conf import settings

websocket_urlpatterns: list = []
for app_label in settings.PROJECT_APPS:
    try:
        module = import_module(f"{app_label}.routing")
    except ModuleNotFoundError as exc:
        if exc.name != f"{app_label}.routing":
            raise
        continue
    websocket_urlpatterns += getattr(module, "websocket_urlpatterns", [])
