"""One HTTP POST to a checked webhook target, connecting only to the addresses the SSRF guard allowed
(`integrations.ssrf.Target`), never to the name, so a DNS answer that changes after the check cannot
redirect the request. No redirect is followed (http.client follows none); connecting and the whole
answer are bounded in time; at most `cap` bytes of the answer are read."""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass

from .ssrf import Target

USER_AGENT = "Boucle-Webhooks/1.0"


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    body: str
    error: str
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _PinnedConnection(http.client.HTTPConnection):
    def __init__(self, target: Target, address: str, *, connect_timeout: float, read_timeout: float):
        super().__init__(target.host, target.port, timeout=connect_timeout)
        self._target = target
        self._address = address
        self._read_timeout = read_timeout

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self._target.port), self.timeout)
        sock.settimeout(self._read_timeout)
        if self._target.scheme == "https":
            context = ssl.create_default_context()
            sock = context.wrap_socket(sock, server_hostname=self._target.tls_hostname or self._target.host)
        self.sock = sock


def _read_capped(response: http.client.HTTPResponse, *, cap: int, deadline: float) -> bytes:
    data = b""
    while len(data) < cap and time.monotonic() < deadline:
        chunk = response.read1(cap - len(data))
        if not chunk:
            break
        data += chunk
    return data


def post(
    target: Target,
    *,
    body: bytes,
    headers: dict[str, str],
    connect_timeout: float,
    read_timeout: float,
    cap: int,
) -> Outcome:
    """POST `body` to `target`, trying its allowed addresses in order until one connects."""
    started = time.monotonic()
    deadline = started + connect_timeout + read_timeout
    error = ""
    for address in target.addresses:
        connection = _PinnedConnection(
            target, str(address), connect_timeout=connect_timeout, read_timeout=read_timeout
        )
        try:
            try:
                connection.connect()
            except OSError as exc:  # refused, unreachable, connect timeout: the next address
                error = f"connection failed: {exc.__class__.__name__}: {exc}"[:300]
                continue
            connection.putrequest("POST", target.request_target, skip_host=True, skip_accept_encoding=True)
            for name, value in {
                "Host": target.host_header,
                "User-Agent": USER_AGENT,
                "Content-Type": "application/json",
                "Content-Length": str(len(body)),
                **headers,
            }.items():
                connection.putheader(name, value)
            connection.endheaders(body)
            response = connection.getresponse()
            answer = _read_capped(response, cap=cap, deadline=deadline)
            return Outcome(
                response.status,
                answer.decode("utf-8", "replace"),
                "",
                round((time.monotonic() - started) * 1000),
            )
        except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
            error = f"{exc.__class__.__name__}: {exc}"[:300]
            return Outcome(None, "", error, round((time.monotonic() - started) * 1000))
        finally:
            connection.close()
    return Outcome(None, "", error or "no address to connect to", round((time.monotonic() - started) * 1000))
