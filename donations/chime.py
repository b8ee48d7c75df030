"""The alert page's sound: a short two-note chime, synthesised here (no third-party
sound, no licence to track) and bundled as ``static/donations/alert-chime.ogg``
(Ogg Vorbis, about 10 KB: plays in Chromium and in OBS's browser source, and
WhiteNoise serves it as ``audio/ogg``).

``python -m donations.chime`` rewrites the file (``ffmpeg`` with libvorbis encodes
the PCM this module computes); a test checks that the bundled file still sounds like
what ``render()`` makes.
"""

from __future__ import annotations

import io
import math
import struct
import subprocess
import wave
from pathlib import Path

SAMPLE_RATE = 24_000
SECONDS = 1.1
PEAK = 0.6  # of full scale: loud enough over game audio, never clipping
# (start seconds, frequency Hz): A5 then E6, a bright rising fifth.
NOTES = ((0.0, 880.0), (0.13, 1318.51))
# A soft bell: the fundamental, a quiet octave and a faint twelfth, each decaying.
PARTIALS = ((1.0, 1.0, 0.42), (2.0, 0.28, 0.22), (3.0, 0.08, 0.12))
ATTACK_SECONDS = 0.004
FADE_OUT_SECONDS = 0.08
PATH = Path(__file__).resolve().parent / "static" / "donations" / "alert-chime.ogg"


def _sample(t: float) -> float:
    value = 0.0
    for start, frequency in NOTES:
        local = t - start
        if local < 0:
            continue
        attack = min(1.0, local / ATTACK_SECONDS)
        for ratio, gain, decay in PARTIALS:
            value += (
                attack
                * gain
                * math.exp(-local / decay)
                * math.sin(2 * math.pi * frequency * ratio * local)
            )
    return value


def render() -> bytes:
    """The chime as a mono 16-bit PCM WAV file."""
    count = int(SAMPLE_RATE * SECONDS)
    raw = [_sample(i / SAMPLE_RATE) for i in range(count)]
    fade = int(SAMPLE_RATE * FADE_OUT_SECONDS)
    for i in range(fade):
        raw[count - fade + i] *= 1 - (i + 1) / fade
    scale = PEAK * 32767 / max(abs(v) for v in raw)
    frames = struct.pack(f"<{count}h", *(round(v * scale) for v in raw))
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(frames)
    return out.getvalue()


def encode(wav: bytes) -> bytes:
    """``wav`` as Ogg Vorbis (``ffmpeg`` on the PATH), without metadata."""
    result = subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "wav",
            "-i",
            "pipe:0",
            "-map_metadata",
            "-1",
            "-fflags",
            "+bitexact",
            "-c:a",
            "libvorbis",
            "-q:a",
            "5",
            "-f",
            "ogg",
            "pipe:1",
        ],
        input=wav,
        capture_output=True,
        check=True,
    )
    return result.stdout


if __name__ == "__main__":
    PATH.parent.mkdir(parents=True, exist_ok=True)
    PATH.write_bytes(encode(render()))
    print(f"wrote {PATH} ({PATH.stat().st_size} bytes)")
