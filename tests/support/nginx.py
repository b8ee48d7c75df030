"""A real nginx with the rtmp module, running the shipped ``deploy/nginx-rtmp.conf``
(ports, paths, callback URL and timings substituted), and ffmpeg publishers.

nginx runs in the foreground (``daemon off``) as a ``ManagedProcess``; everything it
writes (pid, temp files, HLS) stays under the test's directory.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx

from tests.support.servers import ROOT, ManagedProcess, free_port

DEPLOY_CONF = ROOT / "deploy" / "nginx-rtmp.conf"
RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")


def _replace(text: str, old: str, new: str) -> str:
    assert old in text, f"{old!r} not in {DEPLOY_CONF}"
    return text.replace(old, new)


def render_conf(
    *,
    prefix: Path,
    rtmp_port: int,
    http_port: int,
    app_url: str,
    secret: str,
    update_seconds: int,
) -> str:
    text = DEPLOY_CONF.read_text()
    text = _replace(text, "user www-data;", "user root root;")
    text = _replace(text, "/tmp/nginx-rtmp", str(prefix))
    text = _replace(text, "listen 1935;", f"listen 127.0.0.1:{rtmp_port};")
    text = _replace(text, "rtmp://127.0.0.1:1935/hls", f"rtmp://127.0.0.1:{rtmp_port}/hls")
    text = _replace(text, "listen 8080;", f"listen 127.0.0.1:{http_port};")
    text = _replace(text, "http://web:8000", app_url)
    text = _replace(text, "change-me-ingest-secret", secret)
    text = _replace(text, "notify_update_timeout 30s;", f"notify_update_timeout {update_seconds}s;")
    return text


class NginxRtmp(ManagedProcess):
    def __init__(self, log_dir: Path, *, app_url: str, secret: str, update_seconds: int = 2):
        self.prefix = log_dir / "nginx"
        for sub in ("hls", "client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.prefix / sub).mkdir(parents=True, exist_ok=True)
        self.rtmp_port = free_port()
        self.http_port = free_port()
        self.conf_path = self.prefix / "nginx.conf"
        self.conf_path.write_text(
            render_conf(
                prefix=self.prefix,
                rtmp_port=self.rtmp_port,
                http_port=self.http_port,
                app_url=app_url,
                secret=secret,
                update_seconds=update_seconds,
            )
        )
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        super().__init__(
            "nginx",
            [nginx, "-p", str(self.prefix), "-c", str(self.conf_path)],
            dict(os.environ),
            log_dir,
        )
        self.wait_ready()

    @property
    def hls_dir(self) -> Path:
        return self.prefix / "hls"

    def publish_url(self, key: str) -> str:
        return f"rtmp://127.0.0.1:{self.rtmp_port}/live/{key}"

    def playlist_url(self, stream_id: int) -> str:
        return f"http://127.0.0.1:{self.http_port}/hls/{stream_id}.m3u8"

    def wait_ready(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"nginx exited:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.rtmp_port), timeout=1):
                    pass
                httpx.get(f"http://127.0.0.1:{self.http_port}/", timeout=2)
                return
            except (OSError, httpx.HTTPError):
                time.sleep(0.2)
        raise RuntimeError(f"nginx not ready after {timeout}s:\n{self.log()}")


def ffmpeg_publish(log_dir: Path, url: str, name: str, seconds: int = 120) -> ManagedProcess:
    """Push a generated test picture to ``url`` in real time, like OBS would."""
    cmd = [
        shutil.which("ffmpeg") or "/usr/bin/ffmpeg",
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "warning",
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=160x120:rate=10",
        "-t",
        str(seconds),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-tune",
        "zerolatency",
        "-g",
        "10",
        "-pix_fmt",
        "yuv420p",
        "-f",
        "flv",
        url,
    ]
    return ManagedProcess(name, cmd, dict(os.environ), log_dir)


def wait_exit(process: ManagedProcess, timeout: float) -> int | None:
    """The exit code, or ``None`` if still running after ``timeout`` seconds."""
    try:
        return process.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
