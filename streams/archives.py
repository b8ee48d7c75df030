"""Archives and thumbnails (SPEC §4 "Archives and thumbnails").

**Recordings.** nginx-rtmp records every publish session into
``settings.INGEST_RECORD_DIR`` and reports each closed file with
``POST /ingest/on_record_done`` (``check_record_done``). The path must name a regular
file inside that directory (symlinks resolved; ``..`` refused) whose name is this
stream's: nginx-rtmp names it after the stream, which after the relay redirect is the
hash of the relay target (``<relay>/<stream id>``), and otherwise the key. Rows are
unique by path, so a repeated callback stores nothing twice.

**Archive.** ``archive_stream`` (``streams.tasks.archive_recording``) joins an *ended*
stream's recordings, in ``(created_at, id)`` order, with ffmpeg's concat demuxer and
``-c copy`` (no re-encode, ``+faststart``) into
``MEDIA_ROOT/archives/<stream id>-<hash>.mp4``, then sets ``archive_url`` and
``is_archived`` in one UPDATE and sends ``stream.state``. It is idempotent and safe to
retry and to run concurrently:

* a run holds a PostgreSQL advisory lock on the stream from before it lists the
  recordings until its result is committed (no transaction stays open while ffmpeg
  runs; a killed worker's lock ends with its connection), so runs of one stream never
  overlap and each later run sees every recording an earlier one saw, and more;
* the hash covers the recordings the file is made of (id, path, size, mtime): a run
  whose archive is already published and on disk does nothing;
* ffmpeg writes a temporary file in the same directory, renamed into place only once
  complete; the previous archive (and whatever a killed run left) is deleted only
  after the new URL is committed.

A recording that is missing or that ffprobe cannot read is skipped with a log line
(ids only: recording paths may contain the key). A stream without recordings (started
by hand, never published) is a no-op.

**Thumbnails.** ``capture_thumbnails`` (beat, every 60 s) grabs the newest frame of
each live stream's HLS playlist (``HLS_DIR/<stream id>.m3u8``) with ffmpeg, at most
640 pixels wide, into ``MEDIA_ROOT/thumbnails/<stream id>.jpg`` (temporary file, then
an atomic rename: readers never see half a JPEG), and points ``thumbnail_url`` at it
with a cache-busting ``?v=<unix time>``. Streams without HLS output are skipped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from realtime import event_types, groups
from realtime.events import invalidate_snapshots_on_commit, send_event_on_commit
from streams.keys import keys_match
from streams.models import LiveStream, StreamRecording
from streams.selectors import get_stream
from streams.serializers import public_stream

logger = logging.getLogger(__name__)

Status = LiveStream.Status

ARCHIVES = "archives"
THUMBNAILS = "thumbnails"
PATH_MAX = 1000  # StreamRecording.path
# pg_advisory_lock(ARCHIVE_LOCK_CLASS, <stream id>): one archive run per stream at a time.
ARCHIVE_LOCK_CLASS = 0x41524348  # "ARCH"
PROBE_TIMEOUT_SECONDS = 30
THUMBNAIL_WIDTH = 640
THUMBNAIL_PARALLEL = 4


class ArchiveBusy(Exception):
    """Another run holds this stream's archive lock (retry later)."""


class ArchiveFailed(Exception):
    """ffmpeg could not produce the archive (retry later). The message holds no path."""


# --------------------------------------------------------------------------- helpers


def _ffmpeg() -> str:
    return shutil.which("ffmpeg") or "ffmpeg"


def _ffprobe() -> str:
    return shutil.which("ffprobe") or "ffprobe"


def media_root() -> Path:
    return Path(settings.MEDIA_ROOT).resolve()


def record_root() -> Path:
    return Path(settings.INGEST_RECORD_DIR).resolve()


def media_url(*parts: str) -> str:
    return settings.MEDIA_URL + "/".join(parts)


def _relay_name(relay: str, stream_id: int) -> str | None:
    """The name nginx-rtmp gives a stream it relays after ``on_publish`` answered
    ``302 <relay>/<id>`` (``notify_relay_redirect on``): the MD5 of that URL. The URL
    is built as ``streams.ingest`` builds the redirect."""
    if not relay.startswith("rtmp://"):
        return None
    target = f"{relay.rstrip('/')}/{stream_id}"
    return hashlib.md5(target.encode(), usedforsecurity=False).hexdigest()


def _is_stream_file(name: str, stream: LiveStream, relay: str) -> bool:
    """Whether nginx-rtmp would name a recording of ``stream`` like this: ``<stream
    name>[-<unix time>].<suffix>``, the stream name being the relay hash or the key."""
    prefixes = [p for p in (_relay_name(relay, stream.id), stream.stream_key) if p]
    for prefix in prefixes:
        rest = name[len(prefix) :]
        if keys_match(name[: len(prefix)], prefix) and rest[:1] in ("-", "."):
            return True
    return False


# --------------------------------------------------------------------------- on_record_done


@dataclass(frozen=True)
class RecordResult:
    verdict: str  # "allowed" | "refused" (403) | "invalid" (400)
    reason: str
    stream_id: int | None = None
    recording_id: int | None = None


INVALID_PATH = "path: not a recording of this stream in the ingest's recordings directory"


def _recording_file(path: str) -> tuple[str, int] | None:
    """``(path relative to INGEST_RECORD_DIR, size)`` when ``path`` names a regular
    file inside it (symlinks resolved, ``..`` refused); else ``None``. Every failure
    looks the same to the caller: no oracle for files elsewhere."""
    if not path or len(path) > PATH_MAX or "\x00" in path or not settings.INGEST_RECORD_DIR:
        return None
    given = Path(path)
    if not given.is_absolute() or ".." in given.parts:
        return None
    root = record_root()
    try:
        real = given.resolve(strict=True)
        info = real.stat()
    except (OSError, RuntimeError, ValueError):
        return None
    if real == root or not real.is_relative_to(root) or not stat.S_ISREG(info.st_mode):
        return None
    relative = str(real.relative_to(root))
    return (relative, info.st_size) if len(relative) <= PATH_MAX else None


def _locked_by_key(stream_key: str) -> LiveStream | None:
    """The stream with this key, row-locked (caller is in ``transaction.atomic()``)."""
    if not stream_key:
        return None
    stream = LiveStream.objects.select_for_update().filter(stream_key=stream_key).first()
    if stream is None or not keys_match(stream_key, stream.stream_key):
        return None
    return stream


def check_record_done(*, stream_key: str, path: str, relay: str = "") -> RecordResult:
    """nginx-rtmp's ``on_record_done`` (``name`` = the key, ``path`` = the file).

    Unknown key, or a stream that is neither live nor ended → refused (403). A path
    that is not a regular file of this stream inside ``INGEST_RECORD_DIR`` → invalid
    (400). Otherwise the recording is stored once (a repeated callback is allowed and
    stores nothing); if the stream has already ended, ``archive_recording`` is
    enqueued after commit. Holds the stream's row lock, so a stream ending at the same
    moment either sees this recording when it settles, or this sees it ended.
    """
    with transaction.atomic():
        stream = _locked_by_key(stream_key)
        if stream is None:
            return RecordResult("refused", "unknown stream key")
        if stream.status not in (Status.LIVE, Status.ENDED):
            return RecordResult("refused", f"stream is {stream.status}", stream.id)
        found = _recording_file(path)
        if found is None or not _is_stream_file(Path(found[0]).name, stream, relay):
            return RecordResult("invalid", "bad recording path", stream.id)
        name, size = found
        recording, created = StreamRecording.objects.get_or_create(
            path=name, defaults={"stream": stream, "size": size}
        )
        if recording.stream_id != stream.id:
            return RecordResult("invalid", "recording belongs to another stream", stream.id)
        if created and stream.status == Status.ENDED:
            enqueue_archive(stream.id)
    return RecordResult(
        "allowed", "stored" if created else "already stored", stream.id, recording.id
    )


def enqueue_archive(stream_id: int) -> None:
    """``streams.tasks.archive_recording(stream_id)`` after commit (at once outside a
    transaction); a broker error is logged, never raised."""
    from streams import tasks  # tasks import this module

    transaction.on_commit(lambda: tasks.archive_recording.delay(stream_id), robust=True)


def enqueue_archive_if_recorded(stream_id: int) -> bool:
    """For a stream that just ended and settled: archive it if the ingest recorded it."""
    if not StreamRecording.objects.filter(stream_id=stream_id).exists():
        return False
    enqueue_archive(stream_id)
    return True


# --------------------------------------------------------------------------- archive


@contextlib.contextmanager
def _archive_lock(stream_id: int, wait: float) -> Iterator[None]:
    """A session advisory lock on the stream's archive, waited for up to ``wait``
    seconds (``ArchiveBusy`` after that). Released on exit, or when the connection
    ends (a killed worker)."""
    deadline = time.monotonic() + wait
    key = (ARCHIVE_LOCK_CLASS, stream_id % 2**31)
    while True:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
            if cursor.fetchone()[0]:
                break
        if time.monotonic() >= deadline:
            raise ArchiveBusy(f"stream {stream_id}: another archive run is in progress")
        time.sleep(0.25)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)


def _rate(text: object) -> float:
    """``"30000/1001"`` → 29.97; 0 for ``"0/0"`` or garbage."""
    try:
        num, _, den = str(text).partition("/")
        return float(num) / float(den or 1)
    except (ValueError, ZeroDivisionError):
        return 0.0


def _probe(path: Path) -> float | None:
    """How long ``path`` plays, per ffprobe (bounded in time), or ``None`` when it
    has no audio or video stream ffprobe can read.

    FLV gives its duration up to the *last frame's timestamp*; the frame itself lasts
    one more frame interval. The concat demuxer starts the next file where this one
    ends, so without that interval the next file's first frame would share the last
    one's timestamp (a non-monotonic DTS at every reconnect)."""
    try:
        result = subprocess.run(
            [
                _ffprobe(),
                "-v",
                "error",
                "-show_entries",
                "format=duration:stream=codec_type,avg_frame_rate,r_frame_rate",
                "-of",
                "json",
                str(path),
            ],
            capture_output=True,
            timeout=PROBE_TIMEOUT_SECONDS,
            stdin=subprocess.DEVNULL,
        )
        info = json.loads(result.stdout or b"{}") if result.returncode == 0 else {}
        streams = [s for s in info.get("streams", []) if s.get("codec_type") in ("video", "audio")]
        length = float(info.get("format", {}).get("duration", "nan"))
    except (OSError, subprocess.TimeoutExpired, ValueError, TypeError, AttributeError):
        return None
    if not streams or not length > 0:
        return None
    rates = [
        _rate(s.get("avg_frame_rate")) or _rate(s.get("r_frame_rate"))
        for s in streams
        if s["codec_type"] == "video"
    ]
    frame = 1 / max(rates) if rates and max(rates) > 0 else 1 / 30
    return length + frame


@dataclass(frozen=True)
class _Source:
    recording: StreamRecording
    path: Path  # absolute, inside INGEST_RECORD_DIR
    seconds: float  # how long it plays (``_probe``)
    fingerprint: str


def _usable_recordings(stream_id: int) -> tuple[list[_Source], int]:
    """The stream's recordings that exist and are readable, in order; and how many
    were skipped (each logged by id)."""
    root = record_root()
    usable, skipped = [], 0
    for recording in StreamRecording.objects.filter(stream_id=stream_id).order_by(
        "created_at", "id"
    ):
        reason = None
        try:
            path = (root / recording.path).resolve(strict=True)
            info = path.stat()
        except (OSError, RuntimeError):
            reason = "the file is missing"
        else:
            if not path.is_relative_to(root) or not path.is_file():
                reason = "not a file in the recordings directory"
            elif info.st_size == 0:
                reason = "the file is empty"
            elif (seconds := _probe(path)) is None:
                reason = "ffprobe cannot read it"
        if reason:
            skipped += 1
            logger.warning(
                "stream %s: recording %s skipped in the archive: %s",
                stream_id,
                recording.id,
                reason,
            )
            continue
        fingerprint = f"{recording.id}:{recording.path}:{info.st_size}:{info.st_mtime_ns}"
        usable.append(_Source(recording, path, seconds, fingerprint))
    return usable, skipped


def _remux(stream_id: int, sources: list[_Source], target: Path) -> None:
    """ffmpeg concat demuxer, ``-c copy``, into ``target`` (complete, or absent)."""
    folder = target.parent
    token = secrets.token_hex(6)
    listing = folder / f".{stream_id}-{token}.txt"
    partial = folder / f".{stream_id}-{token}.part"
    # The concat demuxer's own quoting ('it'\''s'); each file's length places the next.
    listing.write_text(
        "".join(
            "file '" + str(s.path).replace("'", "'\\''") + f"'\nduration {s.seconds:.6f}\n"
            for s in sources
        )
    )
    command = [
        _ffmpeg(),
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "concat",
        "-safe",
        "0",
        "-i",
        str(listing),
        # Audio and video only (an FLV may carry a data stream MP4 cannot hold).
        "-map",
        "0:v?",
        "-map",
        "0:a?",
        "-c",
        "copy",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        str(partial),
    ]
    try:
        try:
            result = subprocess.run(
                command,
                capture_output=True,
                timeout=settings.ARCHIVE_FFMPEG_TIMEOUT_SECONDS,
                stdin=subprocess.DEVNULL,
            )
        except FileNotFoundError:
            raise ArchiveFailed("ffmpeg is not installed") from None
        except subprocess.TimeoutExpired:
            raise ArchiveFailed(
                f"ffmpeg took longer than {settings.ARCHIVE_FFMPEG_TIMEOUT_SECONDS} s"
            ) from None
        if result.returncode != 0 or not partial.is_file() or partial.stat().st_size == 0:
            # ffmpeg's message names the input files: keep it out of the logs.
            raise ArchiveFailed(f"ffmpeg exited with {result.returncode}")
        with partial.open("rb") as done:
            os.fsync(done.fileno())
        os.replace(partial, target)
    finally:
        listing.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)


def _remove_stale_files(folder: Path, stream_id: int, keep: str | None) -> None:
    """After commit: this stream's archives other than ``keep`` (the published one),
    and leftovers of killed runs (the caller holds the stream's archive lock: no other
    run is writing them)."""
    for pattern in (f"{stream_id}-*.mp4", f".{stream_id}-*.part", f".{stream_id}-*.txt"):
        for path in folder.glob(pattern):
            if path.name != keep:
                path.unlink(missing_ok=True)


def archive_stream(*, stream_id: int, lock_wait: float = 30.0) -> dict[str, object]:
    """Build or refresh the archive of an ended stream (see the module docstring).

    Returns ``{"stream_id", "result", "archive_url", "recordings", "skipped"}`` with
    ``result`` one of ``archived``, ``unchanged``, ``no_recordings``, ``unusable``,
    ``not_ended``, ``missing``. Raises ``ArchiveBusy`` when another run kept the lock
    for ``lock_wait`` seconds, ``ArchiveFailed`` when ffmpeg failed (both: retry).
    """
    with _archive_lock(stream_id, lock_wait):
        row = (
            LiveStream.objects.filter(id=stream_id)
            .values("status", "archive_url", "is_archived")
            .first()
        )
        outcome: dict[str, object] = {
            "stream_id": stream_id,
            "archive_url": row["archive_url"] if row else None,
            "recordings": 0,
            "skipped": 0,
        }
        if row is None:
            return {**outcome, "result": "missing"}
        if row["status"] != Status.ENDED:
            return {**outcome, "result": "not_ended"}
        usable, skipped = _usable_recordings(stream_id)
        outcome.update(recordings=len(usable), skipped=skipped)
        if not usable:
            result = "unusable" if skipped else "no_recordings"
            if skipped:
                logger.warning("stream %s: no usable recording, no archive", stream_id)
            return {**outcome, "result": result}

        digest = hashlib.sha256("\n".join(s.fingerprint for s in usable).encode()).hexdigest()
        name = f"{stream_id}-{digest[:16]}.mp4"
        url = media_url(ARCHIVES, name)
        folder = media_root() / ARCHIVES
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / name
        if row["archive_url"] == url and row["is_archived"] and target.is_file():
            _remove_stale_files(folder, stream_id, keep=name)
            return {**outcome, "result": "unchanged"}

        # A file of this name is complete (renamed into place only when it was): a run
        # killed before its UPDATE made it. The published archive stays until ours is.
        if not target.is_file():
            _remux(stream_id, usable, target)
        with transaction.atomic():
            updated = LiveStream.objects.filter(id=stream_id, status=Status.ENDED).update(
                archive_url=url, is_archived=True, updated_at=timezone.now()
            )
            # The UPDATE holds the row lock: this reads the row as committed below.
            stream = get_stream(stream_id) if updated else None
            if stream is not None:
                send_event_on_commit(
                    [
                        groups.stream_room(stream_id),
                        groups.stream_dashboard(stream_id),
                        groups.streamer_overlays(stream.streamer_id),
                    ],
                    lambda: event_types.stream_state(public_stream(stream)),
                )
        # Committed: now the old file can go (or ours, if the stream vanished).
        _remove_stale_files(folder, stream_id, keep=name if updated else None)
    if not updated:
        return {**outcome, "result": "missing"}
    logger.info("stream %s archived: %s recording(s), %s skipped", stream_id, len(usable), skipped)
    return {**outcome, "archive_url": url, "result": "archived"}


# --------------------------------------------------------------------------- thumbnails


def _grab_frame(playlist: Path, target: Path, stream_id: int) -> bool:
    """The newest frame of ``playlist`` as ``target`` (JPEG), atomically; bounded."""
    partial = target.parent / f".{stream_id}-{secrets.token_hex(6)}.part"
    command = [
        _ffmpeg(),
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-y",
        "-protocol_whitelist",
        "file",
        # Start at the newest segment of a live playlist (ffmpeg's default is 3 back),
        # and probe only half a second: its default (5 s) can outlast that segment and
        # then waits for the playlist to grow, which a stopping stream never does.
        "-live_start_index",
        "-1",
        "-analyzeduration",
        "500000",
        "-probesize",
        "200000",
        "-i",
        str(playlist),
        "-frames:v",
        "1",
        "-vf",
        f"scale='min({THUMBNAIL_WIDTH},iw)':-2",
        "-c:v",
        "mjpeg",
        "-q:v",
        "4",
        "-f",
        "image2",
        "-update",
        "1",
        str(partial),
    ]
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            timeout=settings.THUMBNAIL_FFMPEG_TIMEOUT_SECONDS,
            stdin=subprocess.DEVNULL,
        )
        if result.returncode != 0 or not partial.is_file() or partial.stat().st_size == 0:
            logger.info("stream %s: no thumbnail (ffmpeg exited %s)", stream_id, result.returncode)
            return False
        os.replace(partial, target)
        return True
    except (OSError, subprocess.TimeoutExpired) as exc:
        logger.warning("stream %s: no thumbnail (%s)", stream_id, type(exc).__name__)
        return False
    finally:
        partial.unlink(missing_ok=True)


def capture_thumbnails(*, budget_seconds: float = 45.0) -> dict[str, object]:
    """A fresh thumbnail for every live stream with HLS output (see the module
    docstring). At most ``THUMBNAIL_PARALLEL`` ffmpeg at once; no new grab starts
    after ``budget_seconds``, and the streams whose thumbnail is oldest go first, so
    with more live streams than one run can do, each still gets its turn. One UPDATE
    for all. Safe concurrently: every file lands by rename; the last one wins."""
    started = time.monotonic()
    hls_dir = Path(settings.HLS_DIR) if settings.HLS_DIR else None
    live = list(LiveStream.objects.filter(status=Status.LIVE).values_list("id", flat=True))
    playlists = {
        sid: hls_dir / f"{sid}.m3u8"
        for sid in live
        if hls_dir and (hls_dir / f"{sid}.m3u8").is_file()
    }
    folder = media_root() / THUMBNAILS
    if playlists:
        folder.mkdir(parents=True, exist_ok=True)

    def age(sid: int) -> float:
        try:
            return (folder / f"{sid}.jpg").stat().st_mtime
        except OSError:
            return 0.0

    def grab(sid: int) -> bool:
        if time.monotonic() - started > budget_seconds:
            return False  # the next run starts with this one (oldest first)
        return _grab_frame(playlists[sid], folder / f"{sid}.jpg", sid)

    with ThreadPoolExecutor(max_workers=THUMBNAIL_PARALLEL) as pool:
        order = sorted(playlists, key=age)
        done = [sid for sid, ok in zip(order, pool.map(grab, order), strict=True) if ok]
    if done:
        suffix = f".jpg?v={int(time.time())}"
        with transaction.atomic():
            LiveStream.objects.filter(id__in=done, status=Status.LIVE).update(
                thumbnail_url=Concat(
                    Value(media_url(THUMBNAILS, "")),
                    Cast("id", CharField()),
                    Value(suffix),
                )
            )
            # The public payload (join snapshot, cached reads) changed; nothing to push.
            invalidate_snapshots_on_commit(done)
    return {"live": len(live), "with_hls": len(playlists), "captured": done}
