"""Real media for the archive and thumbnail tests: FLV recordings made by ffmpeg the
way nginx-rtmp writes them (H.264 in FLV), live HLS output, and ffprobe's view of a
file."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

from tests.support.servers import ManagedProcess

FFMPEG = shutil.which("ffmpeg") or "/usr/bin/ffmpeg"
FFPROBE = shutil.which("ffprobe") or "/usr/bin/ffprobe"
# The relay target the shipped template names on on_publish and on_record_done.
RELAY = "rtmp://127.0.0.1:1935/hls"


def relay_name(stream_id: int, relay: str = RELAY) -> str:
    """What nginx-rtmp calls a stream it relays to ``<relay>/<id>`` (the MD5 of that
    URL, ``notify_relay_redirect on``): the prefix of its recordings' file names."""
    return hashlib.md5(f"{relay}/{stream_id}".encode(), usedforsecurity=False).hexdigest()


def make_recording(
    path: Path, seconds: float, *, size: str = "160x120", rate: int = 10, audio: bool = False
) -> Path:
    """An H.264 (+ AAC) FLV of a test pattern, ``seconds`` long, as nginx-rtmp records."""
    path.parent.mkdir(parents=True, exist_ok=True)
    inputs = ["-f", "lavfi", "-i", f"testsrc=size={size}:rate={rate}"]
    if audio:
        inputs += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]
    cmd = [
        FFMPEG,
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-y",
        *inputs,
        "-t",
        str(seconds),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        str(rate),
        "-pix_fmt",
        "yuv420p",
        *(["-c:a", "aac"] if audio else []),
        "-f",
        "flv",
        str(path),
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    return path


def probe(path: Path) -> dict:
    """ffprobe's format and streams of ``path`` (JSON)."""
    result = subprocess.run(
        [FFPROBE, "-v", "error", "-of", "json", "-show_format", "-show_streams", str(path)],
        capture_output=True,
        timeout=30,
        check=True,
    )
    return json.loads(result.stdout)


def duration(path: Path) -> float:
    return float(probe(path)["format"]["duration"])


def live_hls(log_dir: Path, playlist: Path, *, size: str = "320x180", seconds: int = 120):
    """ffmpeg writing a live HLS playlist (1 s segments, a sliding window) in real time,
    as the ingest's ``hls`` application does."""
    playlist.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        FFMPEG,
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "warning",
        "-re",
        "-f",
        "lavfi",
        "-i",
        f"testsrc=size={size}:rate=10",
        "-t",
        str(seconds),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "10",
        "-pix_fmt",
        "yuv420p",
        "-f",
        "hls",
        "-hls_time",
        "1",
        "-hls_list_size",
        "5",
        "-hls_flags",
        "delete_segments",
        str(playlist),
    ]
    return ManagedProcess(f"hls-{playlist.stem}", cmd, dict(os.environ), log_dir)


def assert_plays(path: Path) -> None:
    """ffmpeg decodes every frame of ``path`` without a single error (timestamps that
    go backwards at a join would show here)."""
    result = subprocess.run(
        [FFMPEG, "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
