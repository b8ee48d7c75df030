"""The alert page's bundled chime is ours: it is what ``donations.chime`` synthesises
(decoded, it matches ``render()``), short, mono and never clipping."""

from __future__ import annotations

import io
import math
import struct
import subprocess
import wave

from donations import chime


def pcm(samples: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(samples) // 2}h", samples))


def test_the_bundled_chime_is_what_the_module_synthesises():
    with wave.open(io.BytesIO(chime.render())) as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        rate = wav.getframerate()
        expected = pcm(wav.readframes(wav.getnframes()))
    decode = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", str(chime.PATH)]
    decoded = subprocess.run(
        [*decode, "-f", "s16le", "-ac", "1", "-ar", str(rate), "pipe:1"],
        capture_output=True,
        check=True,
    ).stdout
    actual = pcm(decoded)
    assert abs(len(actual) - len(expected)) <= rate // 50  # within 20 ms
    n = min(len(actual), len(expected))
    dot = sum(a * b for a, b in zip(actual[:n], expected[:n], strict=True))
    norm = math.sqrt(sum(a * a for a in actual[:n]) * sum(b * b for b in expected[:n]))
    assert dot / norm > 0.98  # the same sound, give or take the lossy encoding
    assert len(expected) / rate <= 1.5  # a chime, not a song
    peak = max(abs(v) for v in actual)
    assert 0.4 * 32767 < peak < 32767  # audible, not clipping


def test_the_chime_is_small_enough_to_load_instantly():
    assert chime.PATH.stat().st_size < 32 * 1024
    assert chime.PATH.read_bytes()[:4] == b"OggS"
