"""``GET|HEAD <MEDIA_URL><folder>/<file>``: stream archives (MP4) and thumbnails (JPEG),
served by the application itself, with ``DEBUG`` on or off, like its static files.

Only files directly inside ``MEDIA_ROOT/archives/`` (``.mp4``) and
``MEDIA_ROOT/thumbnails/`` (``.jpg``) are served, under names the tasks write
(``streams.archives``); any other path — another folder, a hidden or temporary file,
``..``, a symlink leading out — is 404, with a body that says nothing more.

Single byte ranges (``Range: bytes=a-b``, ``a-``, ``-n``) are answered ``206`` with
``Content-Range``, so a ``<video>`` element can seek; an unsatisfiable or malformed
byte range is ``416`` with ``Content-Range: bytes */<size>``; several ranges at once,
or another unit, get the whole file (``200``), as RFC 9110 allows. ``If-Range`` with a
stale validator gets the whole file too; ``If-None-Match`` the ``304``.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import re_path
from django.utils.http import http_date
from django.views.decorators.http import require_safe

# folder → {suffix: content type}
FOLDERS = {
    "archives": {".mp4": "video/mp4"},
    "thumbnails": {".jpg": "image/jpeg"},
}
CACHE_CONTROL = {
    # An archive's name carries the hash of what it is made of: a new one gets a new name.
    "archives": "public, max-age=31536000, immutable",
    # A thumbnail is replaced in place every minute (its URL's ?v= changes with it).
    "thumbnails": "public, max-age=60",
}
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,200}\.[a-z0-9]{1,8}")
RANGE = re.compile(r"bytes=\s*(\d*)\s*-\s*(\d*)\s*")
CHUNK_SIZE = 256 * 1024


def _not_found() -> HttpResponse:
    return HttpResponse("not found\n", status=404, content_type="text/plain; charset=utf-8")


def _open(folder: str, name: str) -> tuple[int, os.stat_result] | None:
    """A read-only descriptor of ``MEDIA_ROOT/<folder>/<name>`` if it is a regular file
    really inside that folder (symlinks resolved), with its ``fstat``."""
    if not settings.MEDIA_ROOT:
        return None
    base = (Path(settings.MEDIA_ROOT) / folder).resolve()
    try:
        real = (base / name).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if real.parent != base:
        return None
    try:
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        return None
    return fd, info


def _byte_range(header: str, size: int) -> tuple[int, int] | bool | None:
    """``(first, last)`` of a satisfiable single byte range; ``None``: serve the whole
    file (no range, several ranges, another unit); ``False``: 416."""
    header = header.strip()
    if not header.lower().startswith("bytes=") or "," in header:
        return None
    match = RANGE.fullmatch(header.lower())
    if not match or (not match[1] and not match[2]):
        return False
    if not match[1]:  # the last n bytes
        n = int(match[2])
        return (max(0, size - n), size - 1) if n > 0 and size > 0 else False
    first = int(match[1])
    last = int(match[2]) if match[2] else size - 1
    if first >= size or last < first:
        return False
    return first, min(last, size - 1)


class _FileRange:
    """``length`` bytes of an open file from ``first``, in chunks. Django closes it
    (``close``) when the response is done, also when the client went away before the
    first chunk."""

    def __init__(self, fd: int, first: int, length: int) -> None:
        self.file = os.fdopen(fd, "rb")
        self.first = first
        self.length = length

    def __iter__(self) -> Iterator[bytes]:
        self.file.seek(self.first)
        left = self.length
        while left > 0:
            chunk = self.file.read(min(CHUNK_SIZE, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk

    def close(self) -> None:
        self.file.close()


@require_safe
def serve_media(request: HttpRequest, folder: str, name: str) -> HttpResponse:
    types = FOLDERS.get(folder)
    if types is None or not NAME.fullmatch(name) or Path(name).suffix not in types:
        return _not_found()
    opened = _open(folder, name)
    if opened is None:
        return _not_found()
    fd, info = opened
    size = info.st_size
    etag = f'"{size:x}-{info.st_mtime_ns:x}"'
    last_modified = http_date(info.st_mtime)
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Last-Modified": last_modified,
        "Cache-Control": CACHE_CONTROL[folder],
    }

    if_none_match = request.headers.get("If-None-Match", "")
    if if_none_match and (if_none_match.strip() == "*" or etag in if_none_match):
        os.close(fd)
        return HttpResponse(status=304, headers=headers)

    spec = request.headers.get("Range")
    if_range = request.headers.get("If-Range")
    wanted = None
    if spec and (if_range is None or if_range.strip() in (etag, last_modified)):
        wanted = _byte_range(spec, size)
    if wanted is False:
        os.close(fd)
        return HttpResponse(
            status=416,
            headers={**headers, "Content-Range": f"bytes */{size}"},
            content_type="text/plain; charset=utf-8",
        )

    first, last = wanted if isinstance(wanted, tuple) else (0, size - 1)
    length = max(0, last - first + 1)
    status = 206 if isinstance(wanted, tuple) else 200
    if isinstance(wanted, tuple):
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    headers["Content-Length"] = str(length)
    content_type = FOLDERS[folder][Path(name).suffix]
    if request.method == "HEAD":
        os.close(fd)
        return HttpResponse(status=status, headers=headers, content_type=content_type)
    return StreamingHttpResponse(
        _FileRange(fd, first, length), status=status, headers=headers, content_type=content_type
    )


def _prefix() -> str:
    return re.escape(settings.MEDIA_URL.strip("/"))


# config/urls.py includes these; MEDIA_URL is always a path ("/media/" by default).
urlpatterns = [
    re_path(rf"^{_prefix()}/(?P<folder>[a-z]+)/(?P<name>[^/]+)$", serve_media, name="media"),
]
