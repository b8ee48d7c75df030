"""The watch page survives a network blip: its socket reconnects with ``since`` and
shows exactly what was said meanwhile — nothing lost, nothing twice (SPEC §7)."""

from __future__ import annotations

import pytest

from chat.services import do_send_chat_message
from tests.support.browser import WAIT_MS, chromium
from tests.support.factories import make_stream, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_watch_page_recovers_the_messages_said_while_its_socket_was_down(asgi_server):
    owner = make_user()
    stream = make_stream(owner, status="live")
    for i in range(60):  # more than the 50 a fresh join shows
        do_send_chat_message(user=owner, stream_id=stream.id, text=f"old{i}", client_id=None)
    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"{asgi_server.http_url}/streams/{stream.id}/")
        page.wait_for_function(
            "document.querySelectorAll('#chat .msg').length === 50", timeout=WAIT_MS
        )
        # The network drops: the page's socket closes and waits 4 s before retrying.
        page.evaluate("socket.delay = 4000; socket.ws.close()")
        page.wait_for_function("!document.getElementById('connection').hidden", timeout=WAIT_MS)
        for i in range(30):
            do_send_chat_message(user=owner, stream_id=stream.id, text=f"new{i}", client_id=None)
        page.wait_for_function(
            "document.querySelectorAll('#chat .msg').length === 80", timeout=WAIT_MS
        )
        texts = page.eval_on_selector_all("#chat .msg .text", "ns => ns.map(n => n.textContent)")
    assert texts == [f"old{i}" for i in range(10, 60)] + [f"new{i}" for i in range(30)]
