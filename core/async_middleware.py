"""Django's middleware (and WhiteNoise) without the thread hops.

Under ASGI Django runs ``MiddlewareMixin`` hooks through ``sync_to_async``: two thread
hops per middleware per request (``process_request`` and ``process_response``), and one
sync-only middleware (WhiteNoise) splits the chain into a thread and back. Measured on
``GET /api/streams/{id}`` (bench/http_bench.py, yappi): 16 ``sync_to_async`` calls per
request. The classes below run the same hooks inline on the event loop where they do no
I/O (headers, cookies, URL resolving), and keep a thread hop only for the cases that
touch the database (saving a modified session, messages that live in the session,
serving a static file). ``config/settings.py`` lists these instead of Django's; in the
sync path (the test client, ``manage.py``) they behave exactly like Django's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth import middleware as auth_middleware
from django.contrib.messages import middleware as messages_middleware
from django.contrib.sessions import middleware as sessions_middleware
from django.http import HttpRequest
from django.middleware import clickjacking, common, csrf, security
from whitenoise.middleware import WhiteNoiseMiddleware as _WhiteNoiseMiddleware


class _Inline:
    """For a ``MiddlewareMixin`` whose hooks do no I/O: the async path calls them
    directly instead of through ``sync_to_async``."""

    async def __acall__(self, request: HttpRequest) -> Any:
        response = None
        if hasattr(self, "process_request"):
            response = self.process_request(request)
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            response = self.process_response(request, response)
        return response


class SecurityMiddleware(_Inline, security.SecurityMiddleware):
    """Headers and the HTTPS redirect: no I/O."""


class CommonMiddleware(_Inline, common.CommonMiddleware):
    """User-agent check, the slash redirect (URL resolving), Content-Length: no I/O."""


class XFrameOptionsMiddleware(_Inline, clickjacking.XFrameOptionsMiddleware):
    """One header: no I/O."""


class AuthenticationMiddleware(_Inline, auth_middleware.AuthenticationMiddleware):
    """Sets the lazy ``request.user`` / ``request.auser``; the session is read only when
    something asks for the user (in the view's thread, or through ``auser``)."""


class CsrfViewMiddleware(_Inline, csrf.CsrfViewMiddleware):
    """The token lives in a cookie (not the session): reading and setting it does no
    I/O, and neither does checking a JSON or urlencoded body already in memory. A
    multipart body (which may spool to disk) is checked in a thread."""

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        super().__init__(get_response)
        if self.async_mode and not settings.CSRF_USE_SESSIONS:
            # Django adapts process_view to the handler's mode once, at start-up.
            self.process_view = self._aprocess_view  # type: ignore[method-assign]

    async def _aprocess_view(
        self, request: HttpRequest, callback: Any, callback_args: Any, callback_kwargs: Any
    ) -> Any:
        view = super().process_view
        if request.content_type == "multipart/form-data":
            return await sync_to_async(view)(request, callback, callback_args, callback_kwargs)
        return view(request, callback, callback_args, callback_kwargs)

    async def __acall__(self, request: HttpRequest) -> Any:
        if settings.CSRF_USE_SESSIONS:  # the token is in the session: database I/O
            return await super(_Inline, self).__acall__(request)
        return await super().__acall__(request)


class SessionMiddleware(sessions_middleware.SessionMiddleware):
    """Creating the lazy session is free, and so is the response side unless the
    session must be saved (modified, or ``SESSION_SAVE_EVERY_REQUEST``): that goes to a
    thread."""

    async def __acall__(self, request: HttpRequest) -> Any:
        self.process_request(request)
        response = await self.get_response(request)
        session = getattr(request, "session", None)
        if session is not None and (session.modified or settings.SESSION_SAVE_EVERY_REQUEST):
            return await sync_to_async(self.process_response)(request, response)
        return self.process_response(request, response)


class MessageMiddleware(messages_middleware.MessageMiddleware):
    """Messages nobody added or read need no storage; the others may live in the
    session (database), so they are stored from a thread."""

    async def __acall__(self, request: HttpRequest) -> Any:
        self.process_request(request)
        response = await self.get_response(request)
        storage = getattr(request, "_messages", None)
        if storage is not None and (storage.used or storage.added_new):
            return await sync_to_async(self.process_response)(request, response)
        return response


class WhiteNoiseMiddleware(_WhiteNoiseMiddleware):
    """WhiteNoise is sync-only; in an async chain it would put every request in a
    thread and back. Here only a static URL is looked up (in a thread when the lookup
    reads the disk, DEBUG's autorefresh) and served from a thread; every other request
    passes straight through."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any], **kwargs: Any) -> None:
        super().__init__(get_response, **kwargs)
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        return super().__call__(request)

    async def __acall__(self, request: HttpRequest) -> Any:
        path = request.path_info
        if not self.autorefresh:
            static_file = self.files.get(path)
        elif path.startswith((self.static_prefix, *(prefix for _, prefix in self.directories))):
            static_file = await sync_to_async(self.find_file)(path)
        else:
            static_file = None  # no directory serves this URL: nothing to look up
        if static_file is not None:
            return await sync_to_async(self.serve)(static_file, request)
        return await self.get_response(request)


def skip_request_started_cleanup() -> None:
    """Under ASGI, drop Django's database cleanup at ``request_started``.

    Django connects ``reset_queries`` and ``close_old_connections`` to both
    ``request_started`` and ``request_finished``. Under ASGI every request's sync code
    runs in a thread of its own (asgiref's ``ThreadSensitiveContext``), which holds no
    connection when the request starts, so the start-of-request cleanup has nothing to
    do; but the ASGI handler still runs it through ``sync_to_async``: a thread started
    and a hop per request, before the view. Measured (bench/http_bench.py): +35% on the
    async fast paths (public stream reads, ingest heartbeats), which then need no thread
    at all until ``request_finished`` (kept: it returns the request's connection to the
    pool). Only ``config/asgi.py`` calls this; the sync handlers (tests, WSGI) keep it.
    """
    from django.core import signals
    from django.db import close_old_connections, reset_queries

    signals.request_started.disconnect(close_old_connections)
    signals.request_started.disconnect(reset_queries)
