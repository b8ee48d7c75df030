"""``make run``: the whole system on one machine.

Starts embedded PostgreSQL/Redis when DATABASE_URL/REDIS_URL are unset, migrates,
creates the demo data once, then runs the ASGI server (uvicorn; ``ASGI_SERVER=daphne``
for Daphne; see ``scripts/asgi_server.py``), a Celery worker, Celery beat and — when
Debian's ``nginx`` and ``libnginx-mod-rtmp`` are installed (``INGEST=0`` turns it off)
— the local nginx-rtmp ingest, its config rendered from the environment by
``deploy/ingest_conf.py`` into ``.data/ingest/``. Ctrl-C (or SIGTERM) stops all of
them, and the embedded servers it started.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "deploy"))

import asgi_server  # noqa: E402
import ingest_conf  # noqa: E402
from services import services_running  # noqa: E402

PY = sys.executable
# Processes whose exit is reported but does not stop the others.
OPTIONAL = {"ingest"}
INSTALL_HINT = "sudo apt-get install nginx libnginx-mod-rtmp"


def _ingest(env: dict[str, str], host: str, port: int) -> tuple[list[str] | None, str]:
    """The ingest command (or None) and what to tell the user about it."""
    if env.get("INGEST", "1") == "0":
        return None, "  ingest      off (INGEST=0)"
    missing = ingest_conf.missing_tools(env)
    if missing:
        return None, (
            f"  ingest      not started: {missing} (Debian: {INSTALL_HINT}); the app runs\n"
            "              without it, and streams can still be started from the dashboard"
        )
    app_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
    env.setdefault("INGEST_APP_URL", f"http://{app_host}:{port}")
    try:
        values = ingest_conf.settings_from_env(env)
        conf = Path(str(values["work_dir"])) / "nginx.conf"
        ingest_conf.write(conf, env)
    except ingest_conf.ConfigError as exc:
        return None, f"  ingest      not started: {exc}"
    rtmp = f"rtmp://{app_host}:{values['rtmp_port']}/live"
    env.setdefault("INGEST_RTMP_URL", rtmp)
    env.setdefault(
        "PLAYBACK_URL_TEMPLATE", f"http://{app_host}:{values['http_port']}/hls/{{stream_id}}.m3u8"
    )
    env.setdefault("HLS_DIR", str(values["hls_dir"]))
    # on_record_done accepts only files in the dir nginx records into.
    env.setdefault("INGEST_RECORD_DIR", str(values["record_dir"]))
    cmd = ingest_conf.command(conf, values)
    return cmd, (
        f"  ingest      {rtmp}  (OBS: Server = this URL, Stream Key = the dashboard's key)\n"
        f"              e.g. ffmpeg -re -f lavfi -i testsrc=size=640x360:rate=30 -c:v libx264\n"
        f"                   -preset veryfast -g 60 -f flv {rtmp}/<stream key>\n"
        f"  playback    {env['PLAYBACK_URL_TEMPLATE']}"
    )


# The DEBUG defaults of config/settings.py: with these (or no) keys there is no Stripe.
STRIPE_PLACEHOLDERS = {
    "STRIPE_SECRET_KEY": "sk_test_placeholder",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_placeholder",
}


def _local_payments(env: dict[str, str], host: str, port: int) -> tuple[list[str] | None, str]:
    """With placeholder keys and no STRIPE_API_BASE: the local Stripe-compatible server's
    command (donations/local_stripe.py; SPEC §9 "Local payments"), STRIPE_API_BASE set
    for the app, and what to tell the user. The webhook secret reaches it through the
    environment (STRIPE_WEBHOOK_SECRET, else the same dev default the app uses)."""
    if env.get("STRIPE_API_BASE") or any(
        env.get(name) not in (None, "", value) for name, value in STRIPE_PLACEHOLDERS.items()
    ):
        return None, f"  payments    Stripe at {env.get('STRIPE_API_BASE') or 'api.stripe.com'}"
    stripe_port = int(env.get("STRIPE_LOCAL_PORT") or 0)
    if not stripe_port:
        with socket.socket() as sock:
            busy = sock.connect_ex(("127.0.0.1", 12111)) == 0
        stripe_port = 12111
        if busy:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                stripe_port = sock.getsockname()[1]
    app_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
    env["STRIPE_API_BASE"] = f"http://127.0.0.1:{stripe_port}"
    webhook_url = f"http://{app_host}:{port}/webhooks/stripe/"
    cmd = [PY, "-m", "donations.local_stripe", "--port", str(stripe_port)]
    return [*cmd, "--webhook-url", webhook_url], (
        f"  payments    test mode (local Stripe-compatible server on {env['STRIPE_API_BASE']},\n"
        f"              webhooks to {webhook_url}); no real money: the watch page\n"
        '              offers a test-mode "Complete payment" button'
    )


def _relay_ingest_log(stream: object) -> None:
    """nginx's stderr, with the normal-but-alarming lines explained once."""
    explained = False
    for raw in iter(stream.readline, b""):  # type: ignore[attr-defined]
        line = raw.decode(errors="replace").rstrip()
        if "notify: push" in line:
            if not explained:
                print(
                    "ingest | a publish was accepted and relayed to HLS (nginx-rtmp logs this"
                    " at [error] level: normal, shown once)",
                    flush=True,
                )
                explained = True
            continue
        print(f"ingest | {line}", flush=True)


def main() -> int:
    port = int(os.environ.get("PORT", "8000"))
    host = os.environ.get("HOST", "127.0.0.1")
    server = asgi_server.default_server()  # a bad ASGI_SERVER fails before anything starts
    with services_running() as services:
        env = {**os.environ, **services.env()}
        env.setdefault("DEBUG", "1")
        manage = [PY, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, check=True)
        if env.get("DEBUG", "").lower() not in ("1", "true", "yes", "on"):
            # With DEBUG off the app serves static files from STATIC_ROOT only.
            subprocess.run([*manage, "collectstatic", "--noinput", "-v", "0"], env=env, check=True)
        print("Demo data:")
        subprocess.run([*manage, "seed_demo"], env=env, check=True)
        ingest_cmd, ingest_note = _ingest(env, host, port)
        payments_cmd, payments_note = _local_payments(env, host, port)
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
                str(Path(env.get("DATA_DIR") or ROOT / ".data") / "celerybeat-schedule"),
            ],
        }
        procs = {
            name: subprocess.Popen(cmd, env=env, cwd=ROOT, start_new_session=True)
            for name, cmd in commands.items()
        }
        if payments_cmd is not None:
            procs["payments"] = subprocess.Popen(
                payments_cmd, env=env, cwd=ROOT, start_new_session=True
            )
        if ingest_cmd is not None:
            procs["ingest"] = subprocess.Popen(
                ingest_cmd, env=env, cwd=ROOT, start_new_session=True, stderr=subprocess.PIPE
            )
            threading.Thread(
                target=_relay_ingest_log, args=(procs["ingest"].stderr,), daemon=True
            ).start()
        base = f"http://{host}:{port}"
        print(
            f"\nEldonia-Nex Live is running (ASGI server: {server}):\n"
            f"  dashboard   {base}/dashboard/\n"
            f"  health      {base}/healthz\n"
            f"  API docs    {base}/api/docs/\n"
            f"  admin       {base}/admin/  (new admin, in a second terminal:\n"
            f"              .venv/bin/python scripts/manage.py createsuperuser)\n"
            f"{ingest_note}\n"
            f"{payments_note}\n"
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
            for name, proc in list(procs.items()):
                if proc.poll() is None:
                    continue
                if name in OPTIONAL:
                    print(
                        f"{name} exited with {proc.returncode} (see its lines above; a port"
                        " in use? INGEST_RTMP_PORT / INGEST_HTTP_PORT); the rest keeps running.",
                        flush=True,
                    )
                    del procs[name]
                    continue
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
