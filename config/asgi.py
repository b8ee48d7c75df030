"""ASGI entry point: ``config.asgi:application`` (uvicorn in production, Daphne
supported; ``scripts/asgi_server.py`` has both commands).

HTTP goes to Django; WebSockets go through the Origin check and the session
lookup (``realtime.auth``) to the routes each app declares in its ``routing.py``.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from core.async_middleware import skip_request_started_cleanup  # noqa: E402

skip_request_started_cleanup()  # no thread hop before each request (see there)

from core.startup import refuse_misconfiguration  # noqa: E402

refuse_misconfiguration()  # missing production secrets stop the server here

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from config.routing import websocket_urlpatterns  # noqa: E402
from realtime.auth import SessionUserMiddleware  # noqa: E402
from realtime.origin import OriginValidator  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": OriginValidator(SessionUserMiddleware(URLRouter(websocket_urlpatterns))),
    }
)
