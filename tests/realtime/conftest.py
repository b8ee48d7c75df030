"""Socket tests here close their sockets and the presence hub after each test."""

from tests.support.sockets import sockets_closed_after_test  # noqa: F401
