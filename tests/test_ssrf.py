"""The SSRF guard on webhook URLs (integrations/ssrf.py): what Boucle refuses to send a request to.

No test touches the network: the module's resolver is replaced by a fake DNS (the `dns` fixture, autouse),
which also simulates a rebinding between the check at registration and the check at delivery."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import translation

from api.errors import problem_exception_handler
from core.errors import InvalidInput
from integrations import ssrf

REAL_RESOLVE_HOST = ssrf.resolve_host
PUBLIC_V4 = "93.184.215.14"
PUBLIC_V4_OTHER = "151.101.1.69"
PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"

ZONE = {
    "hooks.example.org": [PUBLIC_V4],
    "dual.example.org": [PUBLIC_V4, PUBLIC_V6, PUBLIC_V4, PUBLIC_V4_OTHER],
    "xn--bcher-kva.example": [PUBLIC_V4],
    "internal.example.org": ["10.0.0.5"],
    "mixed.example.org": [PUBLIC_V4, "127.0.0.1"],
    "v6loop.example.org": [PUBLIC_V6, "::1"],
    "metadata-alias.example.org": ["169.254.169.254"],
    "mapped.example.org": ["::ffff:10.0.0.1"],
    "cgnat.example.org": ["100.64.1.1"],
    "ula.example.org": ["fd12:3456::1"],
    "127.0.0.1.nip.io": ["127.0.0.1"],
    "empty.example.org": [],
    "localhost": ["127.0.0.1", "::1"],
    "app.localhost": ["127.0.0.1"],
}


class FakeDNS:
    """Answers from `ZONE` (or from a queue of answers set by a test); an unknown name does not resolve."""

    def __init__(self):
        self.calls: list[tuple[str, int]] = []
        self.queue: dict[str, list[list[str]]] = {}

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        if self.queue.get(host):
            return self.queue[host].pop(0)
        if host not in ZONE:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(ZONE[host])


@pytest.fixture(autouse=True)
def dns(monkeypatch) -> FakeDNS:
    fake = FakeDNS()
    monkeypatch.setattr(ssrf, "resolve_host", fake)
    return fake


def refusal(url: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        ssrf.url_check(url)
    return caught.value


HOSTILE = [
    # Schemes
    ("file:///etc/passwd", "scheme"),
    ("gopher://example.org:70/_HELO", "scheme"),
    ("ftp://hooks.example.org/", "scheme"),
    ("javascript:alert(1)", "scheme"),
    ("//hooks.example.org/hook", "scheme"),
    ("hooks.example.org/hook", "scheme"),
    # Credentials and userinfo tricks
    ("http://user:pass@hooks.example.org/", "credentials"),
    ("http://evil.com@127.0.0.1/", "credentials"),
    ("http://127.0.0.1:80@hooks.example.org/", "credentials"),
    ("http://@hooks.example.org/", "credentials"),
    # Loopback, in every notation
    ("http://127.0.0.1/", "loopback"),
    ("http://127.254.1.2:8080/", "loopback"),
    ("http://2130706433/", "loopback"),
    ("http://0177.0.0.1/", "loopback"),
    ("http://0x7f.0.0.1/", "loopback"),
    ("http://0x7f000001/", "loopback"),
    ("http://0X7F.1/", "loopback"),
    ("http://127.1/", "loopback"),
    ("http://127.0.0.1./", "loopback"),
    ("HTTP://LOCALHOST/", "loopback"),
    ("http://localhost./", "loopback"),
    ("http://app.localhost:8000/", "loopback"),
    ("http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ/", "loopback"),
    ("http://１２７.０.０.１/", "loopback"),
    ("http://①②⑦。0.0.1/", "loopback"),
    ("http://[::1]/", "loopback"),
    ("http://[0:0:0:0:0:0:0:1]:8080/", "loopback"),
    ("http://[::ffff:127.0.0.1]/", "loopback"),
    ("http://[::ffff:7f00:1]/", "loopback"),
    ("http://[2002:7f00:1::]/", "loopback"),
    # Unspecified, broadcast, multicast, reserved, documentation
    ("http://0/", "unspecified"),
    ("http://0.0.0.0:8080/", "unspecified"),
    ("http://[::]/", "unspecified"),
    ("http://255.255.255.255/", "broadcast"),
    ("http://224.0.0.1/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://240.0.0.1/", "reserved"),
    ("http://198.18.0.1/", "reserved"),
    ("http://192.0.2.10/", "documentation"),
    ("http://[2001:db8::1]/", "documentation"),
    # Private, shared, link-local, unique local
    ("http://10.0.0.1/", "private"),
    ("http://172.16.5.4/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://0xc0.0xa8.1.1/", "private"),
    ("http://3232235777/", "private"),
    ("http://[::ffff:192.168.0.1]/", "private"),
    ("http://[64:ff9b::a00:1]/", "private"),
    ("http://100.64.0.1/", "shared"),
    ("http://169.254.1.1/", "link_local"),
    ("http://[fe80::1]/", "link_local"),
    ("http://[fe80::1%25eth0]/", "link_local"),
    ("http://[fc00::1]/", "unique_local"),
    ("http://[fd12:3456::1]/", "unique_local"),
    # IPv6 transition forms that hide an IPv4 address
    ("http://[::127.0.0.1]/", "transition"),
    ("http://[::a00:1]/", "transition"),
    ("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "transition"),
    # Cloud metadata
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://0xa9fea9fe/", "metadata"),
    ("http://2852039166/", "metadata"),
    ("http://[::ffff:169.254.169.254]/", "metadata"),
    ("http://[64:ff9b::169.254.169.254]/", "metadata"),
    ("http://[fd00:ec2::254]/", "metadata"),
    ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
    ("http://METADATA.GOOGLE.INTERNAL./", "metadata"),
    ("http://100.100.100.200/latest/meta-data/", "metadata"),
    # Names that resolve to forbidden addresses (one among several is enough)
    ("https://internal.example.org/hook", "private"),
    ("https://mixed.example.org/hook", "loopback"),
    ("https://v6loop.example.org/hook", "loopback"),
    ("https://metadata-alias.example.org/", "metadata"),
    ("https://mapped.example.org/", "private"),
    ("https://cgnat.example.org/", "shared"),
    ("https://ula.example.org/", "unique_local"),
    ("http://127.0.0.1.nip.io/", "loopback"),
    ("https://nowhere.example.org/", "unresolvable"),
    ("https://empty.example.org/", "unresolvable"),
    # Ports
    ("http://hooks.example.org:22/", "port"),
    ("http://hooks.example.org:25/", "port"),
    ("https://hooks.example.org:0/", "port"),
    ("https://hooks.example.org:65536/", "port"),
    # Malformed: what parsers disagree on
    ("http://hooks.example.org\\@127.0.0.1/", "malformed"),
    ("http://hooks.example.org /", "malformed"),
    ("http://hooks.example.org\n.evil/", "malformed"),
    ("http://127.0.0.%31/", "malformed"),
    ("http://1.2.3.4.5/", "malformed"),
    ("http://08.0.0.1/", "malformed"),
    ("http://4294967296/", "malformed"),
    ("http:///hook", "malformed"),
    ("http://[::1/", "malformed"),
    ("http://[127.0.0.1]/", "malformed"),
    ("http://hooks.example.org:80:80/", "malformed"),
    ("http://hooks.example.org:+80/", "malformed"),
    ("http://hooks..example.org/", "malformed"),
    ("http://💩.example/", "malformed"),
    ("", "malformed"),
    ("https://hooks.example.org/" + "a" * 2048, "malformed"),
]


@pytest.mark.parametrize(("url", "reason"), HOSTILE)
def test_a_hostile_url_is_refused(url, reason):
    error = refusal(url)
    assert error.code == "webhook_url_refused"
    assert error.field_errors == {"url": [error.message]}
    assert error.extra == {"reason": reason}
    assert error.message


def test_there_are_enough_hostile_urls():
    assert len(HOSTILE) >= 30
    assert len({url for url, _ in HOSTILE}) == len(HOSTILE)


@pytest.mark.parametrize(
    "url",
    ["http://2130706433/", "http://[::ffff:7f00:1]/", "http://169.254.169.254/", "http://[fe80::1%25eth0]/"],
)
def test_an_ip_literal_is_judged_without_asking_the_resolver(url, dns):
    refusal(url)
    assert dns.calls == []


def test_a_forbidden_name_is_refused_before_resolution(dns):
    assert refusal("http://metadata.google.internal/").extra == {"reason": "metadata"}
    assert refusal("http://localhost:8000/").extra == {"reason": "loopback"}
    assert dns.calls == []


def test_the_message_names_the_normalised_host_and_the_kind():
    with translation.override("en"):
        assert refusal("http://0x7f.1/").message == (
            "The host 127.0.0.1 is not allowed (loopback): Boucle sends webhooks only to public addresses."
        )
        assert refusal("https://internal.example.org/").message == (
            "The host internal.example.org resolves to a forbidden address (private network): Boucle sends"
            " webhooks only to public addresses."
        )


def test_the_resolved_address_is_not_disclosed():
    assert "10.0.0.5" not in refusal("https://internal.example.org/").message


# Allowed


def test_a_public_https_url_is_allowed_and_pinned(dns):
    target = ssrf.url_check("https://hooks.example.org/boucle/events?v=1#top")
    assert target == ssrf.Target(
        scheme="https",
        host="hooks.example.org",
        port=443,
        request_target="/boucle/events?v=1",
        addresses=(ipaddress.ip_address(PUBLIC_V4),),
    )
    assert target.host_header == "hooks.example.org"
    assert target.tls_hostname == "hooks.example.org"
    assert target.url == "https://hooks.example.org/boucle/events?v=1"
    assert dns.calls == [("hooks.example.org", 443)]


@pytest.mark.parametrize(
    ("url", "host", "port", "host_header", "request_target", "addresses"),
    [
        (
            "http://hooks.example.org:8080/x",
            "hooks.example.org",
            8080,
            "hooks.example.org:8080",
            "/x",
            [PUBLIC_V4],
        ),
        ("HTTPS://HOOKS.Example.ORG./", "hooks.example.org", 443, "hooks.example.org", "/", [PUBLIC_V4]),
        ("https://hooks.example.org:443", "hooks.example.org", 443, "hooks.example.org", "/", [PUBLIC_V4]),
        ("http://hooks.example.org:/p", "hooks.example.org", 80, "hooks.example.org", "/p", [PUBLIC_V4]),
        ("https://bücher.example/", "xn--bcher-kva.example", 443, "xn--bcher-kva.example", "/", [PUBLIC_V4]),
        (
            "https://dual.example.org:65535/",
            "dual.example.org",
            65535,
            "dual.example.org:65535",
            "/",
            [PUBLIC_V4, PUBLIC_V6, PUBLIC_V4_OTHER],
        ),
        ("https://8.8.8.8/", "8.8.8.8", 443, "8.8.8.8", "/", ["8.8.8.8"]),
        ("http://0x5db8d70e:1024/", PUBLIC_V4, 1024, f"{PUBLIC_V4}:1024", "/", [PUBLIC_V4]),
        (
            "http://[2606:4700:4700::1111]/",
            "2606:4700:4700::1111",
            80,
            "[2606:4700:4700::1111]",
            "/",
            ["2606:4700:4700::1111"],
        ),
        ("http://[::ffff:8.8.8.8]/", "::ffff:808:808", 80, "[::ffff:808:808]", "/", ["8.8.8.8"]),
    ],
)
def test_a_public_url_is_allowed(url, host, port, host_header, request_target, addresses):
    target = ssrf.url_check(url)
    assert (target.host, target.port, target.host_header, target.request_target) == (
        host,
        port,
        host_header,
        request_target,
    )
    assert target.addresses == tuple(ipaddress.ip_address(a) for a in addresses)


def test_an_ip_literal_has_no_tls_hostname():
    target = ssrf.url_check("https://8.8.8.8/hook")
    assert target.is_ip_literal is True
    assert target.tls_hostname is None


def test_resolve_allowed_gives_the_checked_addresses():
    assert ssrf.resolve_allowed("https://dual.example.org/") == [
        ipaddress.IPv4Address(PUBLIC_V4),
        ipaddress.IPv6Address(PUBLIC_V6),
        ipaddress.IPv4Address(PUBLIC_V4_OTHER),
    ]


def test_the_real_resolver_reads_an_address_without_the_network():
    assert REAL_RESOLVE_HOST("127.0.0.1", 80) == ["127.0.0.1"]


# Loopback for tests and local development


def test_loopback_is_refused_by_default_in_tests():
    assert settings.BOUCLE_WEBHOOKS_ALLOW_LOOPBACK is False


@override_settings(BOUCLE_WEBHOOKS_ALLOW_LOOPBACK=True)
@pytest.mark.parametrize(
    ("url", "addresses"),
    [
        ("http://127.0.0.1:8000/hook", ["127.0.0.1"]),
        ("http://127.0.0.2:8000/hook", ["127.0.0.2"]),
        ("http://0x7f.1:8000/hook", ["127.0.0.1"]),
        ("http://[::1]:9000/hook", ["::1"]),
        ("http://[::ffff:127.0.0.1]:9000/hook", ["127.0.0.1"]),
        ("http://localhost:8000/hook", ["127.0.0.1", "::1"]),
        ("http://app.localhost:8000/hook", ["127.0.0.1"]),
    ],
)
def test_the_setting_allows_loopback(url, addresses):
    assert list(ssrf.url_check(url).addresses) == [ipaddress.ip_address(a) for a in addresses]


@override_settings(BOUCLE_WEBHOOKS_ALLOW_LOOPBACK=True)
@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.0.0.1/", "private"),
        ("http://192.168.1.1:8000/", "private"),
        ("http://169.254.169.254/", "metadata"),
        ("http://metadata.google.internal/", "metadata"),
        ("http://[fd00:ec2::254]/", "metadata"),
        ("http://0.0.0.0:8000/", "unspecified"),
        ("http://[::]:8000/", "unspecified"),
        ("http://[2002:7f00:1::]/", "loopback"),
        ("http://[64:ff9b::127.0.0.1]/", "loopback"),
        ("http://[::127.0.0.1]/", "transition"),
        ("http://[fe80::1]/", "link_local"),
        ("https://internal.example.org/", "private"),
        ("http://127.0.0.1:22/", "port"),
    ],
)
def test_the_setting_allows_loopback_only(url, reason):
    assert refusal(url).extra == {"reason": reason}


@override_settings(BOUCLE_WEBHOOKS_ALLOW_LOOPBACK=True)
def test_a_localhost_name_resolving_elsewhere_is_still_judged_by_its_addresses(dns):
    dns.queue["localhost"] = [["127.0.0.1", "10.1.2.3"]]
    assert refusal("http://localhost:8000/").extra == {"reason": "private"}


# DNS rebinding: the check at delivery sees what the name resolves to then


def test_a_rebinding_after_registration_is_refused_at_delivery(dns):
    dns.queue["rebind.example.org"] = [[PUBLIC_V4], ["127.0.0.1"]]
    registered = ssrf.url_check("https://rebind.example.org/hook")
    assert registered.addresses == (ipaddress.IPv4Address(PUBLIC_V4),)
    error = refusal("https://rebind.example.org/hook")
    assert (error.code, error.extra, list(error.field_errors)) == (
        "webhook_url_refused",
        {"reason": "loopback"},
        ["url"],
    )
    assert dns.calls == [("rebind.example.org", 443), ("rebind.example.org", 443)]


def test_a_rebinding_to_metadata_is_refused_by_resolve_allowed(dns):
    dns.queue["rebind.example.org"] = [[PUBLIC_V4], [PUBLIC_V4_OTHER, "169.254.169.254"]]
    assert ssrf.resolve_allowed("https://rebind.example.org/") == [ipaddress.IPv4Address(PUBLIC_V4)]
    with pytest.raises(InvalidInput) as caught:
        ssrf.resolve_allowed("https://rebind.example.org/")
    assert caught.value.extra == {"reason": "metadata"}


def test_a_name_that_stops_resolving_is_refused_at_delivery(dns):
    dns.queue["rebind.example.org"] = [[PUBLIC_V4]]
    ssrf.url_check("https://rebind.example.org/")
    assert refusal("https://rebind.example.org/").extra == {"reason": "unresolvable"}


# Messages, English and French


@pytest.mark.parametrize(
    ("language", "url", "message"),
    [
        ("en", "gopher://hooks.example.org/", "Only http and https URLs are accepted."),
        ("fr", "gopher://hooks.example.org/", "Seules les URL http et https sont acceptées."),
        (
            "en",
            "http://169.254.169.254/latest/meta-data/",
            "The host 169.254.169.254 is not allowed (cloud metadata service): Boucle sends webhooks only to"
            " public addresses.",
        ),
        (
            "fr",
            "http://169.254.169.254/latest/meta-data/",
            "L'hôte 169.254.169.254 n'est pas autorisé (service de métadonnées cloud) : Boucle n'envoie de"
            " webhooks qu'à des adresses publiques.",
        ),
        (
            "en",
            "https://mixed.example.org/",
            "The host mixed.example.org resolves to a forbidden address (loopback): Boucle sends webhooks"
            " only to public addresses.",
        ),
        (
            "fr",
            "https://mixed.example.org/",
            "L'hôte mixed.example.org correspond à une adresse interdite (boucle locale) : Boucle n'envoie de"
            " webhooks qu'à des adresses publiques.",
        ),
        (
            "en",
            "http://hooks.example.org:25/",
            "Port 25 is not allowed: use 80, 443 or a port from 1024 to 65535.",
        ),
        (
            "fr",
            "http://hooks.example.org:25/",
            "Le port 25 n'est pas autorisé : utilisez 80, 443 ou un port de 1024 à 65535.",
        ),
    ],
)
def test_messages_in_english_and_french(language, url, message):
    with translation.override(language):
        error = refusal(url)
    assert error.message == message
    assert error.field_errors == {"url": [message]}


def test_the_refusal_is_one_problem_with_its_reason():
    with translation.override("en"):
        response = problem_exception_handler(refusal("http://0x7f000001:8080/hook"), {})
    message = "The host 127.0.0.1 is not allowed (loopback): Boucle sends webhooks only to public addresses."
    assert response.status_code == 400
    assert response.data == {
        "type": "urn:boucle:problem:webhook_url_refused",
        "title": "Invalid input",
        "status": 400,
        "detail": message,
        "code": "webhook_url_refused",
        "errors": [{"field": "url", "code": "invalid", "message": message}],
        "reason": "loopback",
    }
