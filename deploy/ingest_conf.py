"""Render deploy/nginx-rtmp.conf (the ingest server's template) from the environment.

One renderer for every place the ingest runs: ``make run`` (scripts/run.py, into
``.data/ingest/``), docker-compose's ``ingest`` service (deploy/ingest.Dockerfile) and
the e2e tests (tests/support/nginx.py). Standard library only: the ingest image has a
bare Python and no project dependencies.

    python deploy/ingest_conf.py --out .data/ingest/nginx.conf   # also makes the dirs

Variables (the app's own names where it has one):

========================  ==========================================  =====================
``INGEST_APP_URL``        where nginx calls back (the ASGI server)    ``http://127.0.0.1:8000``
``INGEST_SECRET``         the callbacks' shared secret (``?secret=``) none (no check)
``INGEST_RTMP_PORT``      RTMP port OBS publishes to                  ``1935``
``INGEST_HTTP_PORT``      HTTP port serving HLS under ``/hls/``       ``8080``
``INGEST_BIND``           address both listen on                      ``127.0.0.1``
``INGEST_WORK_DIR``       nginx pid and temp files                    ``$DATA_DIR/ingest``
``HLS_DIR``               where HLS segments are written              ``$DATA_DIR/hls``
``INGEST_RECORD_DIR``     where broadcasts are recorded (private)     ``$DATA_DIR/recordings``
``INGEST_UPDATE_INTERVAL_SECONDS``  nginx's ``notify_update_timeout``  ``30``
``INGEST_USER``           ``user`` of nginx's workers (when root)     the current user
``INGEST_RTMP_MODULE``    the rtmp module's path                      Debian's
========================  ==========================================  =====================
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import re
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TEMPLATE = HERE / "nginx-rtmp.conf"
RTMP_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
WORK_SUBDIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


class ConfigError(ValueError):
    pass


def _get(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name)
    return value if value not in (None, "") else default


def _port(env: Mapping[str, str], name: str, default: str) -> int:
    raw = _get(env, name, default)
    if not raw.isascii() or not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError(f"{name} must be a TCP port, not {raw!r}")
    return int(raw)


def _path(env: Mapping[str, str], name: str, default: str) -> Path:
    path = Path(_get(env, name, default))
    path = path if path.is_absolute() else ROOT / path
    text = str(path)
    if any(c in text for c in ";{}\"'\n\r\t ") or "$" in text:
        raise ConfigError(f"{name}: nginx paths may not contain spaces, quotes, ; {{ }} or $")
    return path


def settings_from_env(env: Mapping[str, str] | None = None) -> dict[str, object]:
    """Everything the template needs, validated (a bad value is a ConfigError)."""
    env = os.environ if env is None else env
    app_url = _get(env, "INGEST_APP_URL", "http://127.0.0.1:8000").rstrip("/")
    if not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+(/[A-Za-z0-9._~/\-]*)?", app_url):
        raise ConfigError(f"INGEST_APP_URL must be an http(s) base URL, not {app_url!r}")
    secret = _get(env, "INGEST_SECRET", "")
    bind = _get(env, "INGEST_BIND", "127.0.0.1")
    if not re.fullmatch(r"[0-9A-Fa-f.:\[\]*]+|[A-Za-z0-9.\-]+", bind):
        raise ConfigError(f"INGEST_BIND must be an address, not {bind!r}")
    update = _get(env, "INGEST_UPDATE_INTERVAL_SECONDS", "30")
    if not update.isascii() or not update.isdigit() or int(update) < 1:
        raise ConfigError("INGEST_UPDATE_INTERVAL_SECONDS must be a positive integer")
    data_dir = _get(env, "DATA_DIR", ".data")
    user = _get(env, "INGEST_USER", "")
    if not user and hasattr(os, "geteuid") and os.geteuid() == 0:
        user = getpass.getuser()
    if user and not re.fullmatch(r"[A-Za-z0-9_.\-]+( [A-Za-z0-9_.\-]+)?", user):
        raise ConfigError(f"INGEST_USER must be a user name, not {user!r}")
    return {
        "app_url": app_url,
        "secret": secret,
        "rtmp_port": _port(env, "INGEST_RTMP_PORT", "1935"),
        "http_port": _port(env, "INGEST_HTTP_PORT", "8080"),
        "bind": bind,
        "work_dir": _path(env, "INGEST_WORK_DIR", f"{data_dir}/ingest"),
        "hls_dir": _path(env, "HLS_DIR", f"{data_dir}/hls"),
        "record_dir": _path(env, "INGEST_RECORD_DIR", f"{data_dir}/recordings"),
        "update_seconds": int(update),
        "user": user,
        "rtmp_module": _get(env, "INGEST_RTMP_MODULE", RTMP_MODULE),
    }


def render(values: Mapping[str, object]) -> str:
    secret = quote(str(values["secret"]), safe="")
    replacements = {
        "RTMP_MODULE": str(values["rtmp_module"]),
        # nginx warns about `user` when not started as root: only render it as root.
        "USER_DIRECTIVE": f"user {values['user']};" if values["user"] else "",
        "WORK_DIR": str(values["work_dir"]),
        "HLS_DIR": str(values["hls_dir"]),
        "RECORD_DIR": str(values["record_dir"]),
        "RTMP_LISTEN": f"{values['bind']}:{values['rtmp_port']}",
        "HTTP_LISTEN": f"{values['bind']}:{values['http_port']}",
        "RTMP_PORT": str(values["rtmp_port"]),
        "APP_URL": str(values["app_url"]),
        "SECRET_QUERY": f"secret={secret}&" if secret else "",
        "SECRET_ONLY_QUERY": f"?secret={secret}" if secret else "",
        "UPDATE_SECONDS": str(values["update_seconds"]),
    }
    text = TEMPLATE.read_text()

    def fill(match: re.Match[str]) -> str:
        return replacements[match.group(1)]

    rendered = re.sub(r"\{\{([A-Z_]+)\}\}", fill, text)
    if "{{" in rendered:
        raise ConfigError("the template has a placeholder the renderer does not know")
    return rendered


def write(out: Path, env: Mapping[str, str] | None = None) -> dict[str, object]:
    """Render into ``out`` and create the directories nginx writes to."""
    values = settings_from_env(env)
    dirs = [Path(str(values["work_dir"])) / sub for sub in WORK_SUBDIRS]
    dirs.append(Path(str(values["hls_dir"])))
    record_dir = Path(str(values["record_dir"]))
    dirs.append(record_dir)
    for path in dirs:
        path.mkdir(parents=True, exist_ok=True)
        if values["user"] and os.geteuid() == 0:
            # nginx's workers (``user``) write temp files, HLS segments and recordings.
            shutil.chown(path, str(values["user"]).split()[0])
    # Recordings are named by the stream key: only their owner (and root) may list them.
    with contextlib.suppress(PermissionError):  # someone else's dir: theirs to protect
        record_dir.chmod(0o700)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(values))
    out.chmod(0o600)  # it holds INGEST_SECRET
    return values


def missing_tools(env: Mapping[str, str] | None = None) -> str | None:
    """Why the local ingest cannot run here (``None`` when it can)."""
    env = os.environ if env is None else env
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        return "nginx is not installed"
    if not Path(_get(env, "INGEST_RTMP_MODULE", RTMP_MODULE)).exists():
        return "nginx's rtmp module is not installed"
    return None


def command(conf: Path, values: Mapping[str, object]) -> list[str]:
    """nginx in the foreground on ``conf``, logging to stderr from the first line."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    return [nginx, "-e", "stderr", "-p", str(values["work_dir"]), "-c", str(conf)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write here (default: print)")
    parser.add_argument(
        "--exec", action="store_true", help="then run nginx on it in the foreground"
    )
    args = parser.parse_args(argv)
    try:
        if args.out:
            values = write(args.out)
        else:
            sys.stdout.write(render(settings_from_env()))
            return 0
    except ConfigError as exc:
        print(f"ingest config: {exc}", file=sys.stderr)
        return 2
    if args.exec:
        cmd = command(args.out, values)
        os.execv(cmd[0], cmd)  # noqa: S606 (become nginx: the container's process)
    return 0


if __name__ == "__main__":
    sys.exit(main())
