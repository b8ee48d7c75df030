"""Server and worker processes refuse to start on a configuration that cannot work.

``manage.py check`` and ``migrate`` run Django's system checks, but a server started
directly (``uvicorn config.asgi:application``, the Dockerfile's command) or a Celery
worker never would: ``config/asgi.py`` and ``config/celery.py`` call
``refuse_misconfiguration()`` first. With ``DEBUG`` off that means the production
secrets (``SECRET_KEY``, the Stripe keys) and ``ALLOWED_HOSTS`` are set, and every
other error-level check passes (``core/checks.py``, ``donations/checks.py``).
"""

from __future__ import annotations

import sys

from django.core import checks


class MisconfiguredError(SystemExit):
    """Exits the process with the checks' messages (status 3, no traceback)."""


def refuse_misconfiguration() -> None:
    serious = [m for m in checks.run_checks() if m.is_serious()]
    if not serious:
        return
    lines = ["Refusing to start: the configuration has errors."]
    for message in serious:
        lines.append(f"  {message.id}: {message.msg}")
        if message.hint:
            lines.append(f"      hint: {message.hint}")
    text = "\n".join(lines)
    print(text, file=sys.stderr, flush=True)
    raise MisconfiguredError(3)
