"""``manage.py`` in the environment of ``make run``, for a second terminal.

``make run`` (``scripts/run.py``) starts the embedded PostgreSQL and Redis under
``.data/`` (``DATA_DIR``) when DATABASE_URL/REDIS_URL are unset, and defaults DEBUG to 1. A plain
``python manage.py ...`` in another terminal knows neither the embedded database's
URL (a Unix socket under ``.data/``) nor that default. This wrapper does what
``scripts/run.py`` does before it starts the servers: reuse the running embedded
servers (or start them for the duration of the command, and stop them after), set
DEBUG=1 unless DEBUG is set, then run ``manage.py`` with the given arguments::

    .venv/bin/python scripts/manage.py createsuperuser
    .venv/bin/python scripts/manage.py shell
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from services import services_running  # noqa: E402


def main(argv: list[str]) -> int:
    with services_running() as services:
        env = {**os.environ, **services.env()}
        env.setdefault("DEBUG", "1")  # as scripts/run.py
        proc = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), *argv], env=env)
        # Ctrl-C reaches the command itself (same terminal); wait for it to finish, then
        # stop the embedded servers if this call started them.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        return proc.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
