"""The webhooks' address check: every non-public address is refused, in every spelling,
before any connection; resolution goes through a stub, so nothing leaves the machine."""

from __future__ import annotations

import socket

import pytest

from shared.webhooks import ssrf

#: URLs whose host is, or spells, a non-public address (IPv4 and IPv6, every notation).
REFUSED_LITERALS = [
    "https://127.0.0.1/",
    "https://127.1/",
    "https://2130706433/",  # 127.0.0.1 in decimal
    "https://0x7f000001/",  # in hex
    "https://0177.0.0.1/",  # in octal
    "https://0x7f.1/",
    "https://017700000001/",  # octal, one number
    "https://0/",
    "https://0.0.0.0/",
    "https://10.0.0.1/",
    "https://172.16.0.1/",
    "https://192.168.1.1/",
    "https://100.64.0.1/",  # carrier-grade NAT
    "https://169.254.169.254/latest/meta-data/",  # the instance metadata service
    "https://0xa9fea9fe/",  # the same, in hex
    "https://2852039166/",  # the same, in decimal
    "https://224.0.0.1/",  # multicast
    "https://255.255.255.255/",
    "https://198.18.0.1/",  # benchmarking
    "https://[::1]/",
    "https://[::]/",
    "https://[::ffff:127.0.0.1]/",  # IPv4-mapped
    "https://[::ffff:7f00:1]/",
    "https://[::ffff:169.254.169.254]/",
    "https://[::127.0.0.1]/",  # IPv4-compatible
    "https://[fd00:ec2::254]/",  # the EC2 IPv6 metadata address
    "https://[fc00::1]/",  # unique local
    "https://[fe80::1]/",  # link-local
    "https://[fe80::1%25eth0]/",  # with a zone
    "https://[64:ff9b::a9fe:a9fe]/",  # NAT64 of the metadata address
    "https://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
    "https://[2001:db8::1]/",  # documentation
    "https://[ff02::1]/",  # multicast
]

#: Of those, the spellings of loopback (which ``WEBHOOKS_ALLOW_LOOPBACK=1`` lets through).
LOOPBACK_SPELLINGS = frozenset(
    {
        "https://127.0.0.1/",
        "https://127.1/",
        "https://2130706433/",
        "https://0x7f000001/",
        "https://0177.0.0.1/",
        "https://0x7f.1/",
        "https://017700000001/",
        "https://[::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://[::ffff:7f00:1]/",
    }
)

#: Names that resolve (through the stub) to non-public addresses: DNS cannot launder them.
REFUSED_NAMES = {
    "https://localtest.example/": ["127.0.0.1"],
    "https://metadata.example/": ["169.254.169.254"],
    "https://rebind.example/": ["93.184.216.34", "10.0.0.7"],  # one public, one private
    "https://v6.example/": ["fd00:ec2::254"],
    "https://mapped.example/": ["::ffff:192.168.0.1"],
}


class NoSockets:
    """Fails the test if anything opens a socket while it is installed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def refuse(*args: object, **kwargs: object) -> None:
            raise AssertionError("a socket was opened during an address check")

        monkeypatch.setattr(socket.socket, "connect", refuse)
        monkeypatch.setattr(socket, "getaddrinfo", refuse)
        monkeypatch.setattr(socket, "create_connection", refuse)


def stub(answers: dict[str, list[str]]) -> ssrf.Resolver:
    asked: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return answers.get(host, [])

    resolve.asked = asked  # type: ignore[attr-defined]
    return resolve


@pytest.mark.parametrize("url", REFUSED_LITERALS)
def test_non_public_literals_are_refused_without_a_lookup(url, monkeypatch):
    # Given no socket may be opened, and a resolver that records what it is asked
    NoSockets(monkeypatch)
    resolver = stub({})
    # When the URL is checked, Then it is refused, and no name was looked up
    with pytest.raises(ssrf.RefusedAddress):
        ssrf.check(url, resolver=resolver)
    assert resolver.asked == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("url", sorted(REFUSED_NAMES))
def test_names_resolving_to_non_public_addresses_are_refused(url, monkeypatch):
    NoSockets(monkeypatch)
    host = url.split("/")[2]
    with pytest.raises(ssrf.RefusedAddress, match="non-public"):
        ssrf.check(url, resolver=stub({host: REFUSED_NAMES[url]}))


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/",  # plain http outside the local stage
        "https://user:pw@hooks.example.com/",
        "https://hooks.example.com/#frag",
        "https://localhost/",
        "https://hooks.example.com:0/",
        "https://hooks.example.com:99999/",
        "https://bad_host name/",
        "https://1.2.3.4.5/",  # ends in a number but is no address
        "https://256.1/",
        "ftp://hooks.example.com/",
        "https://unresolvable.example/",
        "https://" + "a" * 2048 + ".com/",
    ],
)
def test_malformed_or_unresolvable_urls_are_refused(url, monkeypatch):
    NoSockets(monkeypatch)
    with pytest.raises(ssrf.RefusedAddress):
        ssrf.check(url, resolver=stub({}))


def test_a_public_name_gives_the_address_to_connect_to():
    # Given a name that resolves to public addresses only
    resolver = stub({"hooks.example.com": ["93.184.216.34", "2606:2800:220:1::1"]})
    # When it is checked
    target = ssrf.check("https://hooks.example.com:8443/in?x=1", resolver=resolver)
    # Then the sender will connect to the first address judged, with the name kept for TLS
    assert target == ssrf.Target(
        scheme="https", host="hooks.example.com", port=8443, path="/in?x=1", address="93.184.216.34"
    )
    assert resolver.asked == ["hooks.example.com"]  # type: ignore[attr-defined]


def test_public_literals_pass_in_any_spelling():
    assert ssrf.check("https://93.184.216.34/", resolver=stub({})).address == "93.184.216.34"
    assert ssrf.check("https://1572395042/", resolver=stub({})).address == "93.184.216.34"


@pytest.mark.parametrize("url", sorted(LOOPBACK_SPELLINGS))
def test_loopback_spellings_pass_only_when_loopback_is_allowed(url):
    target = ssrf.check(url, resolver=stub({}), allow_loopback=True)
    assert target.address in {"127.0.0.1", "::1"}  # an IPv4-mapped one, unwrapped


def test_loopback_only_when_allowed_and_never_private():
    assert ssrf.check(
        "http://127.0.0.1:9/h", resolver=stub({}), allow_http=True, allow_loopback=True
    )
    with pytest.raises(ssrf.RefusedAddress):
        ssrf.check("http://127.0.0.1:9/h", resolver=stub({}), allow_http=True)
    with pytest.raises(ssrf.RefusedAddress):  # loopback allowed is not private allowed
        ssrf.check("http://10.0.0.1/", resolver=stub({}), allow_http=True, allow_loopback=True)


def test_the_sender_judges_the_address_again(monkeypatch):
    # Given a prepared call aimed at the metadata service (a forged message)
    from shared.webhooks import delivery
    from shared.webhooks.messages import SendRequest

    NoSockets(monkeypatch)
    request = SendRequest(
        delivery_id="00000000-0000-4000-8000-000000000001",
        attempt=1,
        scheme="http",
        host="169.254.169.254",
        port=80,
        path="/",
        address="169.254.169.254",
        headers={},
        body="{}",
        timeout_seconds=1,
        not_after="2999-01-01T00:00:00Z",
    )
    # When the sender gets it, Then it refuses before any connection
    outcome = delivery.send(request)
    assert outcome.status is None and outcome.error and outcome.error.startswith("refused")
