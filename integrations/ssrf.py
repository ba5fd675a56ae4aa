"""May Boucle send an HTTP request to this URL? The one rule (the SSRF guard) for webhook URLs.

Called when an endpoint is registered or its URL changed, and again before every delivery: what a name
resolves to can change in between (DNS rebinding), so a URL accepted yesterday is checked again today.

- Only `http` and `https`; no user name or password in the URL (`http://evil.com@127.0.0.1/`); no spaces,
  control characters, backslashes or percent-escapes in the host; ports 80, 443 and 1024-65535.
- The host is read the way browsers and curl read it: IDNA (UTS 46 mapping, so full-width digits and
  `ⓛⓞⓒⓐⓛⓗⓞⓢⓣ` fold to ASCII), case and a trailing dot ignored, and a host whose last label is a number
  parsed with `socket.inet_aton`, which accepts the legacy notations (`2130706433`, `0177.0.0.1`,
  `0x7f.1`, `127.1`, `0`) exactly as the C resolver and the HTTP clients built on it do.
- An IP literal, and every address a name resolves to, must be a public unicast address: loopback,
  private, link-local, shared (CGNAT), multicast, broadcast, unspecified, documentation, reserved,
  unique-local IPv6 and cloud-metadata addresses are refused (`FORBIDDEN_NETWORKS`), whatever the
  notation; IPv4-mapped, 6to4 and NAT64 IPv6 addresses are judged by the IPv4 address they carry, and the
  deprecated IPv4-compatible, Teredo and local NAT64 prefixes are refused outright. One forbidden address
  among several is enough to refuse the host.
- `BOUCLE_WEBHOOKS_ALLOW_LOOPBACK` (tests, local development) lets loopback through (127.0.0.0/8, ::1,
  `localhost`), never anything else.

Every refusal is `InvalidInput` with code `webhook_url_refused`, a field error on `url` and the problem
member `reason` (a stable word: `scheme`, `credentials`, `malformed`, `port`, `unresolvable`, or the kind
of forbidden address, `loopback`, `private`, `metadata`…).

Pinning, against a rebinding between the check and the connection: `url_check` returns the addresses it
checked (`Target.addresses`, or `resolve_allowed(url)` for them alone). The sender connects to one of
them, never to the name, and sends `Host: target.host_header` (for https: SNI and certificate checked
against `target.tls_hostname`); it follows no redirect, since a redirect is a new, unchecked URL.

Names are resolved by the module-level `resolve_host`, which tests replace (monkeypatch) so that no test
touches the network and a rebinding can be simulated.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import idna
from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

CODE = "webhook_url_refused"
FIELD = "url"
MAX_URL_LENGTH = 2048
DEFAULT_PORTS = {"http": 80, "https": 443}
LOWEST_HIGH_PORT = 1024

# Kinds of forbidden address: the `reason` of the problem, and the words its message uses.
KINDS = {
    "loopback": gettext_lazy("loopback"),
    "private": gettext_lazy("private network"),
    "link_local": gettext_lazy("link-local"),
    "shared": gettext_lazy("shared address space, CGNAT"),
    "multicast": gettext_lazy("multicast"),
    "broadcast": gettext_lazy("broadcast"),
    "unspecified": gettext_lazy("unspecified address"),
    "documentation": gettext_lazy("documentation range"),
    "reserved": gettext_lazy("reserved range"),
    "unique_local": gettext_lazy("unique local IPv6"),
    "metadata": gettext_lazy("cloud metadata service"),
    "transition": gettext_lazy("IPv6 transition mechanism"),
    "not_global": gettext_lazy("not a public address"),
}

_net = ipaddress.ip_network
# First match wins: the specific entries (metadata, broadcast, ::1) precede the ranges that contain them.
FORBIDDEN_NETWORKS: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = (
    # IPv4
    (_net("169.254.169.254/32"), "metadata"),  # AWS, GCP, Azure, OpenStack, DigitalOcean…
    (_net("169.254.170.2/32"), "metadata"),  # AWS ECS task metadata
    (_net("100.100.100.200/32"), "metadata"),  # Alibaba Cloud
    (_net("192.0.0.192/32"), "metadata"),  # Oracle Cloud
    (_net("0.0.0.0/8"), "unspecified"),  # "this network": 0.0.0.0 reaches the local host on Linux
    (_net("10.0.0.0/8"), "private"),
    (_net("100.64.0.0/10"), "shared"),
    (_net("127.0.0.0/8"), "loopback"),
    (_net("169.254.0.0/16"), "link_local"),
    (_net("172.16.0.0/12"), "private"),
    (_net("192.0.0.0/24"), "reserved"),
    (_net("192.0.2.0/24"), "documentation"),
    (_net("192.88.99.0/24"), "reserved"),  # former 6to4 relay anycast
    (_net("192.168.0.0/16"), "private"),
    (_net("198.18.0.0/15"), "reserved"),  # benchmarking
    (_net("198.51.100.0/24"), "documentation"),
    (_net("203.0.113.0/24"), "documentation"),
    (_net("224.0.0.0/4"), "multicast"),
    (_net("255.255.255.255/32"), "broadcast"),
    (_net("240.0.0.0/4"), "reserved"),
    # IPv6
    (_net("::1/128"), "loopback"),
    (_net("::/128"), "unspecified"),
    (_net("::/96"), "transition"),  # IPv4-compatible (deprecated): ::7f00:1
    (_net("::ffff:0:0:0/96"), "transition"),  # IPv4-translated (SIIT)
    (_net("64:ff9b:1::/48"), "transition"),  # local-use NAT64
    (_net("100::/64"), "reserved"),  # discard-only
    (_net("2001::/32"), "transition"),  # Teredo: the IPv4 address inside is obfuscated
    (_net("2001::/23"), "reserved"),  # IETF protocol assignments
    (_net("2001:db8::/32"), "documentation"),
    (_net("3fff::/20"), "documentation"),
    (_net("fd00:ec2::254/128"), "metadata"),  # AWS IMDS over IPv6
    (_net("fc00::/7"), "unique_local"),
    (_net("fe80::/10"), "link_local"),
    (_net("fec0::/10"), "reserved"),  # former site-local
    (_net("ff00::/8"), "multicast"),
)

# Names refused before any resolution (a resolver may answer anything for them).
METADATA_NAMES = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal"}
)
_NAT64 = _net("64:ff9b::/96")
_FORBIDDEN_CHARACTERS = re.compile(r"[\x00-\x20\x7f\\]")
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+")
_NAME_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")
_PORT = re.compile(r"[0-9]{1,5}")


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (one of `addresses`) and what to send."""

    scheme: str
    host: str  # ASCII, lower case, no trailing dot; an IP address in its canonical form, IPv6 unbracketed
    port: int
    request_target: str  # path and query for the request line ("/" when empty); the fragment is dropped
    addresses: tuple[IPAddress, ...]  # every address the host resolved to, all allowed, in resolver order
    is_ip_literal: bool = False

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    @property
    def tls_hostname(self) -> str | None:
        """The name for SNI and certificate verification (https to a name), else None."""
        return self.host if self.scheme == "https" and not self.is_ip_literal else None

    @property
    def url(self) -> str:
        """The URL as it will be requested (normalised host and port)."""
        return f"{self.scheme}://{self.host_header}{self.request_target}"


def resolve_host(host: str, port: int) -> list[str]:
    """Every address `host` resolves to for a TCP connection (the system resolver). Tests replace this."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    # A TCP address is (host, port[, flow, scope]): its host is text.
    return [info[4][0] for info in infos if isinstance(info[4][0], str)]


def url_check(url: str) -> Target:
    """The target of `url` if Boucle may send a request to it, else `InvalidInput` (`webhook_url_refused`).

    Resolves the host (network I/O): call it at registration and again just before each delivery."""
    allow_loopback = bool(settings.BOUCLE_WEBHOOKS_ALLOW_LOOPBACK)
    scheme, host, port, request_target = _split(url)
    literal = _ip_literal(host)
    if literal is not None:
        return Target(
            scheme, str(literal), port, request_target, (_allowed(literal, host, allow_loopback),), True
        )
    if host in METADATA_NAMES:
        raise _refused(_host_forbidden(host, "metadata"), "metadata")
    if (host == "localhost" or host.endswith(".localhost")) and not allow_loopback:
        raise _refused(_host_forbidden(host, "loopback"), "loopback")
    try:
        resolved = resolve_host(host, port)
    except (OSError, UnicodeError):
        resolved = []
    if not resolved:
        message = _("The host %(host)s could not be resolved: it must be a name reachable on the internet.")
        raise _refused(message % {"host": host}, "unresolvable")
    addresses: list[IPAddress] = []
    for text in resolved:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise _refused(_resolves_forbidden(host, "not_global"), "not_global") from None
        reason = address_refusal(address, allow_loopback=allow_loopback)
        if reason:
            raise _refused(_resolves_forbidden(host, reason), reason)
        address = _unmapped(address)
        if address not in addresses:
            addresses.append(address)
    return Target(scheme, host, port, request_target, tuple(addresses))


def resolve_allowed(url: str) -> list[IPAddress]:
    """The addresses to connect to for `url`, all checked; refuses like `url_check`. For delivery."""
    return list(url_check(url).addresses)


def address_refusal(address: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why Boucle may not connect to `address` (a kind from `KINDS`), or None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return "link_local"
        if address.ipv4_mapped is not None:
            return address_refusal(address.ipv4_mapped, allow_loopback=allow_loopback)
        embedded = address.sixtofour or (
            ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if address in _NAT64 else None
        )
        # Through a relay or a translator, never the local host: loopback inside is refused regardless.
        if embedded is not None and (reason := address_refusal(embedded)):
            return reason
    for network, reason in FORBIDDEN_NETWORKS:
        if address in network:
            return None if reason == "loopback" and allow_loopback else reason
    return None if address.is_global else "not_global"


def _split(url: str) -> tuple[str, str, int, str]:
    """(scheme, normalised host, port, request target) of `url`, or a refusal."""
    if not isinstance(url, str) or not url:
        raise _malformed()
    if len(url) > MAX_URL_LENGTH:
        message = _("This URL is too long: at most %(max)s characters.") % {"max": MAX_URL_LENGTH}
        raise _refused(message, "malformed")
    if _FORBIDDEN_CHARACTERS.search(url):
        raise _refused(_("A URL may not contain spaces, control characters or backslashes."), "malformed")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise _malformed() from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise _refused(_("Only http and https URLs are accepted."), "scheme")
    netloc = parts.netloc
    if "@" in netloc:
        message = _("A webhook URL may not contain a user name or password (an @ before the host).")
        raise _refused(message, "credentials")
    if netloc.startswith("["):
        end = netloc.find("]")
        if end == -1:
            raise _malformed()
        host, rest = netloc[: end + 1], netloc[end + 1 :]
    else:
        host, colon, port_text = netloc.partition(":")
        rest = colon + port_text
    if not host:
        raise _refused(_("This URL has no host."), "malformed")
    port = DEFAULT_PORTS[scheme]
    if rest:
        if not rest.startswith(":") or (rest[1:] and not _PORT.fullmatch(rest[1:])):
            raise _malformed()
        if rest[1:]:
            port = int(rest[1:])
    if port != DEFAULT_PORTS[scheme] and not LOWEST_HIGH_PORT <= port <= 65535:
        message = _("Port %(port)s is not allowed: use 80, 443 or a port from 1024 to 65535.")
        raise _refused(message % {"port": port}, "port")
    request_target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, _normalised_host(host), port, request_target


def _normalised_host(host: str) -> str:
    """The host as a client will use it: bracketed IPv6 unwrapped, IDNA to ASCII, lower case, no final dot;
    a host ending in a numeric label becomes the dotted quad `inet_aton` reads in it."""
    if host.startswith("["):
        inner = host[1:-1]
        if "%" in inner:  # a zone: link-local by definition
            raise _refused(_host_forbidden(host, "link_local"), "link_local")
        try:
            return str(ipaddress.IPv6Address(inner))
        except ValueError:
            raise _invalid_host(host) from None
    if "%" in host:  # percent-escapes in a host: clients disagree on them
        raise _invalid_host(host)
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError):
            raise _invalid_host(host) from None
    host = host.lower()
    if host.endswith("."):
        host = host[:-1]
    labels = host.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        try:
            return socket.inet_ntoa(socket.inet_aton(host))
        except OSError:
            raise _invalid_host(host) from None
    if len(host) > 253 or not all(_NAME_LABEL.fullmatch(label) for label in labels):
        raise _invalid_host(host)
    return host


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _allowed(address: IPAddress, host: str, allow_loopback: bool) -> IPAddress:
    reason = address_refusal(address, allow_loopback=allow_loopback)
    if reason:
        raise _refused(_host_forbidden(host, reason), reason)
    return _unmapped(address)


def _unmapped(address: IPAddress) -> IPAddress:
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped if mapped is not None else address


def _host_forbidden(host: str, reason: str) -> str:
    message = _(
        "The host %(host)s is not allowed (%(kind)s): Boucle sends webhooks only to public addresses."
    )
    return message % {"host": host, "kind": KINDS[reason]}


def _resolves_forbidden(host: str, reason: str) -> str:
    message = _(
        "The host %(host)s resolves to a forbidden address (%(kind)s): Boucle sends webhooks only to public"
        " addresses."
    )
    return message % {"host": host, "kind": KINDS[reason]}


def _invalid_host(host: str) -> InvalidInput:
    return _refused(_("%(host)s is not a valid host name or IP address.") % {"host": host}, "malformed")


def _malformed() -> InvalidInput:
    return _refused(
        _("This is not a valid URL: give a full address such as https://example.org/hooks."), "malformed"
    )


def _refused(message: str, reason: str) -> InvalidInput:
    return InvalidInput(message, code=CODE, field_errors={FIELD: [message]}, extra={"reason": reason})
