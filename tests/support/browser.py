"""Headless Debian Chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 20_000


@contextmanager
def chromium() -> Iterator[Browser]:
    """Playwright's sync API runs an event loop in this thread; the test's own ORM
    calls stay synchronous, so Django's async-safety guard is lifted for the block."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with _launch() as browser:
            yield browser
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@contextmanager
def _launch() -> Iterator[Browser]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# True when the page has no horizontal scroll (long words wrap).
NO_HORIZONTAL_SCROLL = (
    "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    " && document.body.scrollWidth <= document.documentElement.clientWidth"
)


def screenshot(page, tmp_path: Path, name: str, publish: bool = False) -> None:
    """Into the test's tmp dir (an artifact); also into docs/screenshots/ (the README's)
    with ``UPDATE_SCREENSHOTS=1``."""
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if publish and os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, SCREENSHOTS / f"{name}.png")
