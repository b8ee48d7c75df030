"""The browse page ``/`` in a real headless Chromium, the friendly 404/500 pages (JSON
stays JSON under /api/) and the favicon."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from django.test import RequestFactory
from django.utils import timezone

from core.views import server_error
from tests.support.browser import NO_HORIZONTAL_SCROLL, WAIT_MS, chromium, screenshot
from tests.support.factories import PASSWORD, make_stream, make_user


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_browse_lists_live_then_scheduled_streams_with_links(asgi_server, tmp_path):
    live = make_stream(
        make_user("browsehost", display_name="Aki Tanaka"),
        status="live",
        actual_start=timezone.now(),
        title="Speedrunning the new castle level",
    )
    starts = (timezone.now() + timedelta(days=1)).replace(hour=18, minute=30, second=0)
    scheduled = make_stream(
        make_user("browsehost2", display_name="Mika"),
        status="scheduled",
        scheduled_start=starts,
        title="Cozy Sunday painting",
    )
    ended = make_stream(status="ended", title="Old news", actual_end=timezone.now())
    make_user("browsefan", display_name="Browse Fan")
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{asgi_server.http_url}/")
        page.wait_for_selector(f"#live-list [data-id='{live.id}']", timeout=WAIT_MS)
        page.wait_for_selector(f"#scheduled-list [data-id='{scheduled.id}']", timeout=WAIT_MS)
        assert page.get_attribute(f"#live-list [data-id='{live.id}'] a", "href") == (
            f"/streams/{live.id}/"
        )
        assert page.text_content(f"#live-list [data-id='{live.id}'] .viewers") == "0 watching"
        assert page.text_content(f"#scheduled-list [data-id='{scheduled.id}'] a") == (
            scheduled.title
        )
        # The start time is shown in the viewer's local time zone.
        expected = page.evaluate(
            "(iso) => formatLocalTime(iso)", starts.isoformat().replace("+00:00", "Z")
        )
        assert page.text_content(f"#scheduled-list [data-id='{scheduled.id}'] .when") == (
            "Starts " + expected
        )
        assert page.locator(f"[data-id='{ended.id}']").count() == 0
        assert page.is_visible("#auth-form")
        assert page.evaluate(NO_HORIZONTAL_SCROLL)
        assert page.evaluate(
            "document.querySelector('link[rel=icon]').getAttribute('href')"
        ).endswith("favicon.svg")

        page.fill("#auth-form input[name=username]", "browsefan")
        page.fill("#auth-form input[name=password]", PASSWORD)
        page.click("#login-button")
        page.wait_for_function(
            "document.getElementById('me-name')?.textContent === 'Browse Fan'", timeout=WAIT_MS
        )
        screenshot(page, tmp_path, "browse", publish=True)

        page.click(f"#live-list [data-id='{live.id}'] a")
        page.wait_for_url(f"**/streams/{live.id}/", timeout=WAIT_MS)

        # A title that is one long word does not widen the list on a phone.
        long = make_stream(status="scheduled", title="X" * 255)
        phone = browser.new_page(viewport={"width": 390, "height": 844})
        phone.goto(f"{asgi_server.http_url}/")
        phone.wait_for_selector(f"#scheduled-list [data-id='{long.id}']", timeout=WAIT_MS)
        assert phone.evaluate(NO_HORIZONTAL_SCROLL)
        screenshot(phone, tmp_path, "browse-390")


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_browse_with_nothing_on_says_so(asgi_server, tmp_path):
    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"{asgi_server.http_url}/")
        page.wait_for_selector("#live-list .empty", timeout=WAIT_MS)
        page.wait_for_selector("#scheduled-list .empty", timeout=WAIT_MS)
        assert "Nobody is live" in page.text_content("#live-list")
        screenshot(page, tmp_path, "browse-empty")


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_missing_stream_is_a_friendly_404_and_the_api_stays_json(asgi_server, tmp_path):
    base = asgi_server.http_url
    # The server runs with DEBUG=1, and still a person gets the friendly page.
    page_resp = httpx.get(f"{base}/streams/987654/", headers={"Accept": "text/html"})
    assert page_resp.status_code == 404
    assert page_resp.headers["content-type"].startswith("text/html")
    assert "Page not found" in page_resp.text and 'href="/"' in page_resp.text
    assert "URLconf" not in page_resp.text  # not Django's technical 404 page

    api_resp = httpx.get(f"{base}/api/streams/987654")
    assert api_resp.status_code == 404
    assert api_resp.headers["content-type"].startswith("application/json")
    assert api_resp.json()["error"]["code"] == "not_found"

    icon = httpx.get(f"{base}/favicon.ico", follow_redirects=True)
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")

    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"{base}/streams/987654/")
        page.click("#browse-link")
        page.wait_for_selector("#live-list", timeout=WAIT_MS)
        screenshot(page, tmp_path, "not-found")


@pytest.mark.django_db
def test_unknown_urls_get_the_friendly_404_without_debug(client, settings):
    settings.DEBUG = False
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"Page not found" in response.content
    api = client.get("/api/no-such-thing")
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "not_found"


def test_the_500_page_is_friendly_for_people_and_json_for_the_api():
    page = server_error(RequestFactory().get("/streams/1/"))
    assert page.status_code == 500
    assert b"Something went wrong" in page.content
    api = server_error(RequestFactory().get("/api/streams/1"))
    assert api.status_code == 500 and api["Content-Type"].startswith("application/json")
