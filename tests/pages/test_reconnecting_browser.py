"""During the reconnect grace the watch page says "the streamer is reconnecting…",
and goes back to "Live now" when OBS returns — live, through the room's events."""

from __future__ import annotations

import pytest

from streams import services
from tests.support.browser import WAIT_MS, chromium
from tests.support.factories import make_stream

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LINE = "document.getElementById('status-line').textContent"


def test_the_watch_page_follows_a_reconnect(asgi_server):
    stream = make_stream(title="Flaky wifi")
    key = stream.stream_key
    assert services.do_ingest_publish(stream_key=key, client_id="1").allowed
    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"{asgi_server.http_url}/streams/{stream.id}/")
        page.wait_for_function(f"{LINE} === 'Live now'", timeout=WAIT_MS)
        assert services.do_ingest_publish_done(stream_key=key, client_id="1").allowed
        page.wait_for_function(f"{LINE} === 'The streamer is reconnecting…'", timeout=WAIT_MS)
        assert services.do_ingest_publish(stream_key=key, client_id="2").allowed
        page.wait_for_function(f"{LINE} === 'Live now'", timeout=WAIT_MS)
        # A viewer who joins during the grace sees it too (the snapshot says so).
        assert services.do_ingest_publish_done(stream_key=key, client_id="2").allowed
        late = browser.new_page()
        late.goto(f"{asgi_server.http_url}/streams/{stream.id}/")
        late.wait_for_function(f"{LINE} === 'The streamer is reconnecting…'", timeout=WAIT_MS)
