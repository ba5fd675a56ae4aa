"""The client's address, the same for every rate limit, the login lockout and the logs.

`BOUCLE_TRUSTED_PROXIES` is how many reverse proxies stand in front of the application, each appending
the address it received the request from to `X-Forwarded-For` (nginx: `$proxy_add_x_forwarded_for`).

- 0 (the default): `X-Forwarded-For` is ignored; the client is the connection's peer (`REMOTE_ADDR`).
- N: the client is the N-th address from the right of `X-Forwarded-For`, the one the outermost trusted
  proxy saw. Whatever lies further left was written by the client itself and is never believed.

With too many proxies counted, a client picks its own address; with too few, every client behind the
proxy shares the proxy's: set it to what the deployment really has (docker-compose.yml: 1)."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from contextvars import ContextVar

from django.conf import settings

_current: ContextVar[str] = ContextVar("boucle_client_ip", default="-")


def _normalised(value: str) -> str | None:
    """An address as written in a header → its canonical text; ports ("1.2.3.4:5678", "[::1]:80") are
    dropped. None when it is not an address."""
    value = value.strip()
    if value.startswith("[") and "]" in value:
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def client_ip_from_meta(meta: Mapping[str, str], *, trusted_proxies: int) -> str:
    """The client's address from a WSGI environ (or Django's `request.META`)."""
    peer = meta.get("REMOTE_ADDR") or ""
    forwarded = [part for part in (meta.get("HTTP_X_FORWARDED_FOR") or "").split(",") if part.strip()]
    if trusted_proxies <= 0 or not forwarded:
        return _normalised(peer) or peer
    # Fewer entries than proxies: the request came through the inner proxies only, and the leftmost is
    # the address the first of them saw.
    return _normalised(forwarded[-min(trusted_proxies, len(forwarded))]) or _normalised(peer) or peer


def client_ip(request) -> str:
    """The client's address of a Django or DRF request, per BOUCLE_TRUSTED_PROXIES."""
    return client_ip_from_meta(request.META, trusted_proxies=settings.BOUCLE_TRUSTED_PROXIES)


def address_bucket(address: str) -> str:
    """What a per-address limit counts on: the address itself for IPv4, its /64 network for IPv6, since
    every IPv6 subscriber holds a whole /64 and could otherwise spend a fresh budget per address."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 4:
        return str(parsed)
    if parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(ipaddress.ip_network(f"{parsed}/64", strict=False))


class ClientIPMiddleware:
    """Makes the client's address known to every log record written while the request runs (see
    ClientIPLogFilter). First in MIDDLEWARE, so that all of them see it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _current.set(client_ip(request))
        try:
            return self.get_response(request)
        finally:
            _current.reset(token)


class ClientIPLogFilter(logging.Filter):
    """Adds `client_ip` to log records: the address of the request being served, `-` outside requests.
    Django writes its `django.request` lines ("Not Found: …") after the middleware has returned, with
    the request attached."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        meta = getattr(request, "META", None)
        record.client_ip = client_ip(request) if isinstance(meta, Mapping) else _current.get()
        return True
