"""``make run`` (scripts/run.py) starts the local ingest too: publishing with ffmpeg to
the RTMP URL it prints takes a stream live and its HLS plays at the printed playback
URL; Ctrl-C stops everything, nginx included."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from streams.models import LiveStream
from tests.support.factories import make_stream
from tests.support.nginx import ffmpeg_publish, ingest_conf
from tests.support.servers import ROOT, free_port, subprocess_env

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


class RunPy:
    """scripts/run.py as a user starts it, its output collected line by line."""

    def __init__(self, env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "run.py")],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            self.lines.append(raw.decode(errors="replace").rstrip())

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 120) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.text)
            if match:
                return match
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"{pattern!r} not printed:\n{self.text}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole group
        try:
            return self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.skipif(
    ingest_conf.missing_tools() is not None and not os.environ.get("CI"),
    reason="nginx with the rtmp module is not installed (.ci/run installs it)",
)
def test_make_run_serves_the_local_ingest_and_a_publish_goes_live_and_plays(tmp_path, log_dir):
    stream = make_stream(title="From make run")
    web_port, rtmp_port, http_port = free_port(), free_port(), free_port()
    env = subprocess_env(
        PORT=str(web_port),
        INGEST_RTMP_PORT=str(rtmp_port),
        INGEST_HTTP_PORT=str(http_port),
        DATA_DIR=str(tmp_path / "data"),
        INGEST_SECRET="make-run-ingest-secret",
    )
    for name in ("INGEST_RTMP_URL", "PLAYBACK_URL_TEMPLATE", "HLS_DIR", "INGEST_WORK_DIR"):
        env.pop(name, None)
    run = RunPy(env)
    publisher = None
    try:
        rtmp_url = run.wait_for(r"ingest\s+(rtmp://\S+)").group(1)
        playback = run.wait_for(r"playback\s+(http://\S+)").group(1)
        run.wait_for(r"Press Ctrl-C to stop")
        assert rtmp_url == f"rtmp://127.0.0.1:{rtmp_port}/live"
        assert playback == f"http://127.0.0.1:{http_port}/hls/{{stream_id}}.m3u8"
        deadline = time.monotonic() + 60
        while not (port_open(web_port) and port_open(rtmp_port)):
            assert time.monotonic() < deadline, run.text
            time.sleep(0.3)

        publisher = ffmpeg_publish(log_dir, f"{rtmp_url}/{stream.stream_key}", "ffmpeg")
        deadline = time.monotonic() + 60
        while LiveStream.objects.get(id=stream.id).status != "live":
            assert time.monotonic() < deadline, run.text
            time.sleep(0.3)
        playlist_url = playback.replace("{stream_id}", str(stream.id))
        deadline = time.monotonic() + 60
        while True:
            response = httpx.get(playlist_url, timeout=5)
            if response.status_code == 200 and ".ts" in response.text:
                break
            assert time.monotonic() < deadline, (response.status_code, run.text)
            time.sleep(0.5)
        assert stream.stream_key not in run.text
    finally:
        if publisher is not None:
            publisher.stop()
        code = run.stop()
    assert code == 0, run.text
    assert not port_open(rtmp_port) and not port_open(http_port) and not port_open(web_port)
    # The normal-but-alarming nginx line is explained, not shown raw.
    assert "notify: push" not in run.text
    assert "make-run-ingest-secret" not in run.text
