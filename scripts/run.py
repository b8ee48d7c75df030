"""``make run``: the whole system on one machine.

Starts embedded PostgreSQL/Redis when DATABASE_URL/REDIS_URL are unset, migrates,
creates the demo data once, then runs the ASGI server (uvicorn; ``ASGI_SERVER=daphne``
for Daphne; see ``scripts/asgi_server.py``), a Celery worker and Celery beat together.
Ctrl-C (or SIGTERM) stops all of them, and the embedded servers it started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import asgi_server  # noqa: E402
from services import services_running  # noqa: E402

PY = sys.executable


def main() -> int:
    port = int(os.environ.get("PORT", "8000"))
    host = os.environ.get("HOST", "127.0.0.1")
    server = asgi_server.default_server()  # a bad ASGI_SERVER fails before anything starts
    with services_running() as services:
        env = {**os.environ, **services.env()}
        env.setdefault("DEBUG", "1")
        manage = [PY, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, check=True)
        print("Demo data:")
        subprocess.run([*manage, "seed_demo"], env=env, check=True)
        commands = {
            # Client WebSocket messages over 64 KiB are refused, never buffered.
            "web": asgi_server.command(host, port, server=server, python=PY),
            "worker": [PY, "-m", "celery", "-A", "config", "worker", "-l", "INFO", "-c", "2"],
            "beat": [
                PY,
                "-m",
                "celery",
                "-A",
                "config",
                "beat",
                "-l",
                "INFO",
                "-s",
                str(ROOT / ".data" / "celerybeat-schedule"),
            ],
        }
        procs = {
            name: subprocess.Popen(cmd, env=env, cwd=ROOT, start_new_session=True)
            for name, cmd in commands.items()
        }
        base = f"http://{host}:{port}"
        print(
            f"\nEldonia-Nex Live is running (ASGI server: {server}):\n"
            f"  dashboard   {base}/dashboard/\n"
            f"  health      {base}/healthz\n"
            f"  API schema  {base}/api/schema\n"
            f"  admin       {base}/admin/\n"
            f"Press Ctrl-C to stop.\n",
            flush=True,
        )
        stopping = False

        def stop(*_args: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code = 0
        while not stopping:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    print(f"{name} exited with {proc.returncode}; stopping.", flush=True)
                    exit_code = proc.returncode or 1
                    stopping = True
            time.sleep(0.3)
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        return exit_code


if __name__ == "__main__":
    sys.exit(main())
