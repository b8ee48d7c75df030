"""A real nginx with the rtmp module, configured by ``deploy/ingest_conf.py`` from the
shipped template ``deploy/nginx-rtmp.conf`` (the same renderer ``make run`` and
docker-compose use), and ffmpeg publishers.

nginx runs in the foreground (``daemon off``) as a ``ManagedProcess``; everything it
writes (pid, temp files, HLS, recordings) stays under the test's directory. The app
server must be given the same recordings dir (``INGEST_RECORD_DIR``) to accept its
``on_record_done`` callbacks: ``NginxRtmp.record_dir_for(log_dir)`` names it before
nginx exists.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx

from tests.support.servers import ManagedProcess, free_port, load_module

ingest_conf = load_module("deploy/ingest_conf.py", "ingest_conf")


def ingest_env(
    *,
    prefix: Path,
    rtmp_port: int,
    http_port: int,
    app_url: str,
    secret: str,
    update_seconds: int,
    record_dir: Path | None = None,
) -> dict[str, str]:
    """The environment ``deploy/ingest_conf.py`` renders from, for a test's nginx."""
    return {
        "INGEST_RECORD_DIR": str(record_dir or prefix / "recordings"),
        "INGEST_APP_URL": app_url,
        "INGEST_SECRET": secret,
        "INGEST_RTMP_PORT": str(rtmp_port),
        "INGEST_HTTP_PORT": str(http_port),
        "INGEST_BIND": "127.0.0.1",
        "INGEST_WORK_DIR": str(prefix),
        "HLS_DIR": str(prefix / "hls"),
        "INGEST_UPDATE_INTERVAL_SECONDS": str(update_seconds),
    }


class NginxRtmp(ManagedProcess):
    def __init__(
        self,
        log_dir: Path,
        *,
        app_url: str,
        secret: str,
        update_seconds: int = 2,
        http_port: int | None = None,
        record_dir: Path | None = None,
    ):
        self.prefix = log_dir / "nginx"
        self.record_dir = record_dir or self.record_dir_for(log_dir)
        self.rtmp_port = free_port()
        self.http_port = http_port or free_port()
        self.conf_path = self.prefix / "nginx.conf"
        values = ingest_conf.write(
            self.conf_path,
            ingest_env(
                prefix=self.prefix,
                rtmp_port=self.rtmp_port,
                http_port=self.http_port,
                app_url=app_url,
                secret=secret,
                update_seconds=update_seconds,
                record_dir=self.record_dir,
            ),
        )
        super().__init__(
            "nginx", ingest_conf.command(self.conf_path, values), dict(os.environ), log_dir
        )
        self.wait_ready()

    @staticmethod
    def record_dir_for(log_dir: Path) -> Path:
        """Where the nginx of ``log_dir`` records broadcasts (by default)."""
        return log_dir / "nginx" / "recordings"

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


def ffmpeg_publish(
    log_dir: Path,
    url: str,
    name: str,
    seconds: int = 120,
    *,
    rate: int = 10,
    gop: int | None = 10,
) -> ManagedProcess:
    """Push a generated test picture to ``url`` in real time, like OBS would.
    ``gop=None`` leaves x264's default keyframe interval (250 frames), as an encoder
    left at its defaults does."""
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
        f"testsrc=size=160x120:rate={rate}",
        "-t",
        str(seconds),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-tune",
        "zerolatency",
        *(["-g", str(gop)] if gop is not None else []),
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
