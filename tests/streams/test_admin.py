"""The admin never shows the stream key."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.support.factories import make_stream, make_user

pytestmark = pytest.mark.django_db


def test_admin_list_and_change_pages_do_not_show_the_key():
    admin = make_user(is_staff=True, is_superuser=True)
    stream = make_stream(title="Admin view")
    client = Client()
    client.force_login(admin)
    listing = client.get("/admin/streams/livestream/")
    change = client.get(f"/admin/streams/livestream/{stream.id}/change/")
    search = client.get("/admin/streams/livestream/", {"q": stream.stream_key})
    for response in (listing, change):
        assert response.status_code == 200
        assert stream.stream_key not in response.content.decode()
    assert "Admin view" in listing.content.decode()
    # The key is not a search field: searching for it finds nothing.
    assert search.status_code == 200 and "0 results" in search.content.decode()
