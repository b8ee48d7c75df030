"""``MEDIA_URL`` served by the app (core/media.py): archives and thumbnails only, with
Range requests for a seeking ``<video>``, whether ``DEBUG`` is on or off, and under
the real ASGI server."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest
from django.test import Client

from tests.support.media import FFMPEG, make_recording
from tests.support.servers import asgi_server

DATA = bytes(range(256)) * 40  # 10240 bytes, every offset distinguishable


@pytest.fixture
def media(settings, tmp_path) -> Path:
    root = tmp_path / "media"
    (root / "archives").mkdir(parents=True)
    (root / "thumbnails").mkdir()
    (root / "archives" / "7-0123456789abcdef.mp4").write_bytes(DATA)
    (root / "thumbnails" / "7.jpg").write_bytes(b"\xff\xd8\xff" + b"j" * 97 + b"\xff\xd9")
    settings.MEDIA_ROOT = str(root)
    return root


@pytest.fixture(params=[True, False], ids=["debug", "production"])
def client(request, settings, media) -> Client:
    settings.DEBUG = request.param
    return Client()


ARCHIVE = "/media/archives/7-0123456789abcdef.mp4"


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_the_whole_file_with_its_type_and_ranges_advertised(client):
    response = client.get(ARCHIVE)
    assert response.status_code == 200
    assert body(response) == DATA
    assert response["Content-Type"] == "video/mp4"
    assert response["Content-Length"] == str(len(DATA))
    assert response["Accept-Ranges"] == "bytes"
    assert response["ETag"] and response["Last-Modified"]
    thumb = client.get("/media/thumbnails/7.jpg")
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/jpeg"
    assert body(thumb).startswith(b"\xff\xd8\xff")


@pytest.mark.parametrize(
    ("spec", "first", "last"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=100-", 100, len(DATA) - 1),
        ("bytes=-50", len(DATA) - 50, len(DATA) - 1),
        ("bytes=10000-99999", 10000, len(DATA) - 1),  # clamped to the end
        ("bytes=5-5", 5, 5),
        ("bytes=-999999", 0, len(DATA) - 1),  # more than the file: all of it
    ],
)
def test_a_byte_range_is_206_with_exactly_those_bytes(client, spec, first, last):
    response = client.get(ARCHIVE, headers={"Range": spec})
    assert response.status_code == 206
    assert body(response) == DATA[first : last + 1]
    assert response["Content-Range"] == f"bytes {first}-{last}/{len(DATA)}"
    assert response["Content-Length"] == str(last - first + 1)
    assert response["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize(
    "spec", [f"bytes={len(DATA)}-", "bytes=99999-", "bytes=5-2", "bytes=-0", "bytes=abc", "bytes=-"]
)
def test_an_unsatisfiable_or_malformed_range_is_416(client, spec):
    response = client.get(ARCHIVE, headers={"Range": spec})
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(DATA)}"
    assert body(response) == b""


@pytest.mark.parametrize("spec", ["bytes=0-1,5-9", "items=0-5"])
def test_several_ranges_or_another_unit_get_the_whole_file(client, spec):
    response = client.get(ARCHIVE, headers={"Range": spec})
    assert response.status_code == 200 and body(response) == DATA


def test_if_range_and_if_none_match(client):
    etag = client.get(ARCHIVE)["ETag"]
    same = client.get(ARCHIVE, headers={"Range": "bytes=0-9", "If-Range": etag})
    assert same.status_code == 206 and body(same) == DATA[:10]
    stale = client.get(ARCHIVE, headers={"Range": "bytes=0-9", "If-Range": '"old"'})
    assert stale.status_code == 200 and body(stale) == DATA
    assert client.get(ARCHIVE, headers={"If-None-Match": etag}).status_code == 304


def test_head_answers_the_headers_only(client):
    response = client.head(ARCHIVE, headers={"Range": "bytes=0-9"})
    assert response.status_code == 206
    assert response["Content-Length"] == "10" and body(response) == b""
    assert client.post(ARCHIVE).status_code == 405


def test_nothing_else_is_served(client, media, tmp_path):
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(b"PRIVATE-SECRET-BYTES")
    (media / "archives" / "9-link.mp4").symlink_to(secret)
    (media / "archives" / "8-dir.mp4").mkdir()
    (media / "archives" / ".7-0badc0ffee00.part").write_bytes(b"partial")
    (media / "archives" / "notes.txt").write_bytes(b"x")
    (media / "recordings").mkdir()
    (media / "recordings" / "key-1.flv").write_bytes(b"flv")
    (media / "7.mp4").write_bytes(b"MEDIA-ROOT-BYTES")
    for path in [
        "/media/archives/../../secret.mp4",
        "/media/archives/%2e%2e/%2e%2e/secret.mp4",
        "/media/archives/..%2f..%2fsecret.mp4",
        "/media/archives/%2e%2e%2fthumbnails%2f7.jpg",
        "/media/archives/9-link.mp4",  # a symlink leading out
        "/media/archives/8-dir.mp4",
        "/media/archives/.7-0badc0ffee00.part",
        "/media/archives/notes.txt",
        "/media/archives/7-missing.mp4",
        "/media/thumbnails/7-0123456789abcdef.mp4",  # an archive name under thumbnails
        "/media/archives/7.jpg",
        "/media/recordings/key-1.flv",
        "/media/7.mp4",
        "/media/",
        "/media/archives/",
        "/media/archives/7-0123456789abcdef.mp4/",
        "/media/archives/7-0123456789abcdef.mp4%00.jpg",
    ]:
        response = client.get(path)
        assert response.status_code == 404, path
        assert b"SECRET-BYTES" not in body(response), path
        assert b"ROOT-BYTES" not in body(response), path


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_the_asgi_server_streams_a_real_mp4_by_ranges(log_dir, tmp_path):
    """A real MP4 through uvicorn: the ranges a video element asks for add up to the
    file, byte for byte."""
    root = tmp_path / "media"
    source = make_recording(tmp_path / "in.flv", 3.0)
    mp4 = root / "archives" / "3-00aa11bb22cc33dd.mp4"
    mp4.parent.mkdir(parents=True)
    subprocess.run(
        [
            FFMPEG,
            "-v",
            "error",
            "-y",
            "-i",
            str(source),
            "-c",
            "copy",
            "-movflags",
            "+faststart",
            str(mp4),
        ],
        check=True,
        timeout=60,
    )
    data = mp4.read_bytes()
    with asgi_server(log_dir, MEDIA_ROOT=str(root)) as web:
        url = f"{web.http_url}/media/archives/{mp4.name}"
        head = httpx.head(url)
        assert head.status_code == 200 and head.headers["accept-ranges"] == "bytes"
        assert int(head.headers["content-length"]) == len(data)
        chunks, offset = [], 0
        while offset < len(data):
            r = httpx.get(url, headers={"Range": f"bytes={offset}-{offset + 4095}"})
            assert r.status_code == 206
            chunks.append(r.content)
            offset += len(r.content)
        assert b"".join(chunks) == data
        assert httpx.get(url, headers={"Range": f"bytes={len(data)}-"}).status_code == 416
        assert httpx.get(f"{web.http_url}/media/archives/..%2f..%2fmanage.py").status_code == 404
