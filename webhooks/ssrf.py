"""Which webhook URLs may be called, and at which address (SPEC §7a, §10).

A webhook URL is a request the server makes on a stranger's behalf: without a check
it could reach the cloud metadata service (169.254.169.254), the database, Redis or
anything else only the server can see. The rules:

* ``http`` or ``https``, at most ``URL_MAX_LENGTH`` characters, printable ASCII, a
  host, no user name or password, no fragment.
* The host is resolved (``getaddrinfo``), and **every** address it resolves to must be
  public: loopback, private, link-local, multicast, reserved, unspecified and other
  non-global addresses (also inside IPv4-mapped, 6to4 and Teredo IPv6 addresses) are
  refused unless the URL's host, or the address, is listed in
  ``WEBHOOK_ALLOWED_HOSTS`` (hostnames, IPs or CIDRs).
* This runs when a subscription is created (a host that does not resolve is refused)
  and again before every delivery attempt, which then connects to the address just
  checked (``Target.address``), so a DNS answer that changes between the check and
  the connection (DNS rebinding) cannot send the request elsewhere.

Error messages say why a URL was refused but never echo the URL (it may carry a token
in its query string) or the addresses a name resolved to.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

URL_MAX_LENGTH = 500
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_PRINTABLE_ASCII = re.compile(r"[\x21-\x7e]+")
_HOSTNAME = re.compile(
    r"(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*"
)
# getaddrinfo cannot be cancelled: it runs in these threads, and a lookup that takes
# longer than the caller's budget is abandoned (its thread finishes on its own).
_resolver = ThreadPoolExecutor(max_workers=8, thread_name_prefix="webhook-dns")


class UrlRefused(Exception):
    """The URL is malformed (``code="validation_error"``) or not allowed
    (``"webhook_url_not_allowed"``). ``message`` is safe to show to the URL's owner."""

    def __init__(self, message: str, *, code: str = "webhook_url_not_allowed") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class ParsedUrl:
    scheme: str  # "http" | "https"
    host: str  # lower case, no brackets, no trailing dot: the Host header and TLS name
    port: int
    target: str  # path and query, as sent in the request line


@dataclass(frozen=True)
class Target:
    url: ParsedUrl
    address: str  # the checked IP address to connect to


@dataclass(frozen=True)
class AllowList:
    hosts: frozenset[str]
    networks: tuple[IPNetwork, ...]

    def allows_host(self, host: str) -> bool:
        return host in self.hosts

    def allows_address(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self.networks)


def normalize_host(host: str) -> str:
    return host.strip().lower().removeprefix("[").removesuffix("]").rstrip(".")


def parse_allow_list(entries: list[str] | tuple[str, ...]) -> AllowList:
    """``WEBHOOK_ALLOWED_HOSTS`` entries; ``ValueError`` names the first bad one."""
    hosts: set[str] = set()
    networks: list[IPNetwork] = []
    for raw in entries:
        entry = normalize_host(raw)
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
            continue
        except ValueError:
            pass
        if not _HOSTNAME.fullmatch(entry):
            raise ValueError(f"{raw!r} is neither a hostname, an IP address nor a CIDR")
        hosts.add(entry)
    return AllowList(frozenset(hosts), tuple(networks))


@functools.cache
def _cached_allow_list(entries: tuple[str, ...]) -> AllowList:
    return parse_allow_list(entries)


def allow_list() -> AllowList:
    """The current ``WEBHOOK_ALLOWED_HOSTS`` (validated at start-up by ``checks.py``)."""
    return _cached_allow_list(tuple(settings.WEBHOOK_ALLOWED_HOSTS))


# --------------------------------------------------------------------------- URL


def _malformed(message: str) -> UrlRefused:
    return UrlRefused(message, code="validation_error")


def parse_url(raw: object) -> ParsedUrl:
    if not isinstance(raw, str) or not raw.strip():
        raise _malformed("url: give the address the events should be sent to.")
    url = raw.strip()
    if len(url) > URL_MAX_LENGTH:
        raise _malformed(f"url: at most {URL_MAX_LENGTH} characters.")
    if not _PRINTABLE_ASCII.fullmatch(url):
        raise _malformed(
            "url: printable ASCII only, without spaces (percent-encode the path and write"
            " international domain names in their xn-- form)."
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _malformed("url: not a valid URL (check the host and the port).") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise _malformed("url: must start with https:// or http://.")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise _malformed("url: must not contain a user name or password.")
    if parts.fragment or url.endswith("#"):
        raise _malformed("url: must not contain a #fragment (it is never sent).")
    host = normalize_host(parts.hostname or "")
    if not host:
        raise _malformed("url: the host is missing.")
    scheme = parts.scheme.lower()
    if port == 0:
        raise _malformed("url: the port must be between 1 and 65535.")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return ParsedUrl(scheme, host, port or (443 if scheme == "https" else 80), target)


# --------------------------------------------------------------------------- addresses


def _embedded(ip: IPAddress) -> list[IPAddress]:
    """Any IPv4 address carried inside an IPv6 one (judged first: it is where the
    packets go), then the address itself."""
    found: list[IPAddress] = []
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            found.append(ip.ipv4_mapped)
        if ip.sixtofour is not None:
            found.append(ip.sixtofour)
        if ip.teredo is not None:
            found.extend(ip.teredo)
    return [*found, ip]


def _why_not_public(ip: IPAddress) -> str | None:
    for candidate in _embedded(ip):
        if candidate.is_loopback:
            return "a loopback address"
        if candidate.is_unspecified:
            return "an unspecified address"
        if candidate.is_link_local:
            return "a link-local address"
        if candidate.is_multicast:
            return "a multicast address"
        if candidate.is_private:
            return "a private address"
        if candidate.is_reserved:
            return "a reserved address"
        if not candidate.is_global:
            return "a non-public address"
    return None


def resolve(host: str, port: int, *, timeout: float) -> list[IPAddress]:
    """The addresses ``host`` resolves to (an IP literal: itself), in resolver order."""
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        return [literal]
    future = _resolver.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=max(timeout, 0.001))
    except FutureTimeout:
        raise UrlRefused("the host's DNS lookup timed out.") from None
    except (OSError, UnicodeError):
        raise UrlRefused("the host could not be resolved (no such domain?).") from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        try:
            ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        except ValueError:
            continue
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise UrlRefused("the host could not be resolved (no such domain?).")
    return addresses


def check_addresses(host: str, addresses: list[IPAddress], allowed: AllowList) -> IPAddress:
    """The address to connect to, if every address of ``host`` is allowed."""
    if allowed.allows_host(host):
        return addresses[0]
    for ip in addresses:
        reason = _why_not_public(ip)
        if reason is not None and not allowed.allows_address(ip):
            raise UrlRefused(
                f"the host resolves to {reason}; such hosts must be listed in"
                " WEBHOOK_ALLOWED_HOSTS by the operator."
            )
    return addresses[0]


def check_url(raw: object, *, timeout: float | None = None) -> Target:
    """Parse, resolve and check a URL against the current allow-list; the ``Target``
    holds the checked address to connect to. ``UrlRefused`` otherwise."""
    url = parse_url(raw)
    budget = settings.WEBHOOK_TIMEOUT_SECONDS if timeout is None else timeout
    addresses = resolve(url.host, url.port, timeout=budget)
    address = check_addresses(url.host, addresses, allow_list())
    return Target(url, str(address))
