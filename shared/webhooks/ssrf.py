"""Where a webhook may be sent: public addresses only (the SSRF defence).

A webhook URL's host is checked when the endpoint is registered or changed, and again before
every delivery (a name may resolve elsewhere by then: DNS rebinding). The host must be a name
whose every address is public, or a public IP literal; loopback, private, link-local (the
instance metadata service at 169.254.169.254 among them), the EC2 IPv6 metadata address
fd00:ec2::254, unique-local, CGNAT, multicast, reserved and unspecified addresses are refused,
however they are spelled: IPv4 in decimal, octal, hex or shortened forms (``2130706433``,
``0177.0.0.1``, ``0x7f.1``, ``127.1``, as browsers and ``inet_aton`` read them), IPv6 with an
embedded IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo) or a zone id.

Names are resolved through a :data:`Resolver` that the caller passes (tests pass a stub, so no
lookup and no connection ever leaves the machine); :func:`check` returns the addresses it
judged, and the sender connects to exactly one of them: no second lookup that could answer
differently. ``allow_loopback`` (``WEBHOOKS_ALLOW_LOOPBACK=1``, the local stage only) lets
loopback addresses through for a receiver on 127.0.0.1 during development.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: ``resolve(host, port)`` → the host's addresses, as strings.
Resolver = Callable[[str, int], Sequence[str]]

MAX_URL_LENGTH = 2048
_EC2_METADATA_V6 = ipaddress.ip_address("fd00:ec2::254")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_SIXTOFOUR = ipaddress.ip_network("2002::/16")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)*[a-z0-9-]{1,63}$")


class RefusedAddress(ValueError):
    """The URL may not be called: what is wrong, in words a client can be shown."""


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (``address``, ``port``), and what to ask for there."""

    scheme: str
    host: str  # the name as written (the Host header, and TLS's server name)
    port: int
    path: str  # path and query
    address: str  # the public IP the check approved: the one to connect to


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system's resolver gives ``host`` (the VPC's resolver in AWS)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _ipv4_number(label: str) -> int | None:
    """One label as the WHATWG URL parser reads it: decimal, ``0x`` hex, or ``0``-octal."""
    if label == "":
        return None
    try:
        if label.lower().startswith("0x"):
            return int(label[2:] or "0", 16)
        if len(label) > 1 and label.startswith("0"):
            return int(label[1:], 8)
        return int(label, 10)
    except ValueError:
        return None


def parse_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """``host`` as an IPv4 address in any spelling a URL parser accepts (``127.1``,
    ``2130706433``, ``0x7f000001``, ``0177.0.0.1``), else None. Raises
    :class:`RefusedAddress` for a host that ends in a number but is no valid address."""
    labels = host.split(".")
    if labels and labels[-1] == "" and len(labels) > 1:
        labels = labels[:-1]  # a trailing dot
    last = labels[-1] if labels else ""
    if _ipv4_number(last) is None:
        return None  # a name (the last label is not numeric)
    numbers = [_ipv4_number(label) for label in labels]
    if len(numbers) > 4 or any(n is None for n in numbers):
        raise RefusedAddress("The host is not a valid address.")
    values = [n for n in numbers if n is not None]
    if any(n > 255 for n in values[:-1]) or values[-1] >= 256 ** (5 - len(values)):
        raise RefusedAddress("The host is not a valid address.")
    number = values[-1]
    for index, value in enumerate(values[:-1]):
        number += value * 256 ** (3 - index)
    return ipaddress.IPv4Address(number)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (mapped, compatible, NAT64, 6to4, Teredo)."""
    found = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    packed = int(address)
    if address in _NAT64 or address in _NAT64_LOCAL:
        found.append(ipaddress.IPv4Address(packed & 0xFFFFFFFF))
    if packed >> 32 == 0 and packed > 1:  # IPv4-compatible ::a.b.c.d (deprecated)
        found.append(ipaddress.IPv4Address(packed))
    return found


def is_public(address: IPAddress) -> bool:
    """True when ``address`` is a global unicast address, and so is any IPv4 it embeds."""
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        return False
    if address == _EC2_METADATA_V6 or not address.is_global:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        if address in _SIXTOFOUR and address.sixtofour is None:
            return False
        return all(is_public(inner) for inner in _embedded_ipv4(address))
    return True


def _is_loopback(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def judge(address: str, *, allow_loopback: bool = False) -> IPAddress:
    """The address ``address`` if a webhook may be sent to it, else :class:`RefusedAddress`."""
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        raise RefusedAddress("The host resolved to something that is not an address.") from None
    if isinstance(parsed, ipaddress.IPv6Address) and "%" in address:
        raise RefusedAddress("The URL's host may not carry an IPv6 zone.")
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped  # the address a connection would reach
    if allow_loopback and _is_loopback(parsed):
        return parsed
    if not is_public(parsed):
        raise RefusedAddress(
            "The URL's host is or resolves to a loopback, private, link-local, metadata or"
            " otherwise non-public address."
        )
    return parsed


def literal_address(host: str) -> IPAddress | None:
    """``host`` (as in a URL, brackets included) as an IP address in any spelling, else None
    for a name."""
    if host.startswith("["):
        if not host.endswith("]"):
            raise RefusedAddress("The host is not a valid address.")
        inner = host[1:-1]
        if "%" in inner:
            raise RefusedAddress("The URL's host may not carry an IPv6 zone.")
        try:
            return ipaddress.IPv6Address(inner)
        except ValueError:
            raise RefusedAddress("The host is not a valid address.") from None
    return parse_ipv4(host)


def parse_url(url: str, *, allow_http: bool) -> tuple[str, str, int, str]:
    """``(scheme, host, port, path)`` of a webhook URL, or :class:`RefusedAddress` naming what
    is wrong: https only (http where ``allow_http``), no credentials, no fragment."""
    if len(url) > MAX_URL_LENGTH:
        raise RefusedAddress(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url) or "\\" in url:
        raise RefusedAddress("The URL may not contain spaces, control characters or backslashes.")
    parts = urlsplit(url)
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        raise RefusedAddress(
            "The URL must be https://." if not allow_http else "The URL must be http(s)://."
        )
    if "@" in parts.netloc:
        raise RefusedAddress("The URL may not carry credentials.")
    if parts.fragment:
        raise RefusedAddress("The URL may not carry a fragment.")
    netloc = parts.netloc
    host, port_text = netloc, ""
    if netloc.startswith("["):
        end = netloc.find("]")
        host, rest = netloc[: end + 1], netloc[end + 1 :]
        if end < 0 or (rest and not rest.startswith(":")):
            raise RefusedAddress("The URL's host is not valid.")
        port_text = rest[1:]
    elif ":" in netloc:
        host, _, port_text = netloc.rpartition(":")
    host = host.lower()
    if not host:
        raise RefusedAddress("The URL has no host.")
    if port_text:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise RefusedAddress("The URL's port is not valid.")
        port = int(port_text)
    else:
        port = 443 if parts.scheme == "https" else 80
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return parts.scheme, host, port, path


def check(
    url: str,
    *,
    resolver: Resolver,
    allow_http: bool = False,
    allow_loopback: bool = False,
) -> Target:
    """Check ``url`` and resolve its host once; the :class:`Target` to connect to, or
    :class:`RefusedAddress`. Every address the name resolves to must pass (an attacker's name
    that answers one public and one private address is refused), and the sender connects to
    the first: the address judged is the address used."""
    scheme, host, port, path = parse_url(url, allow_http=allow_http)
    literal = literal_address(host)
    if literal is not None:
        approved = judge(str(literal), allow_loopback=allow_loopback)
        return Target(scheme=scheme, host=host, port=port, path=path, address=str(approved))
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise RefusedAddress("The URL's host is not a valid name.") from None
    if not _HOSTNAME.match(ascii_host.rstrip(".")):
        raise RefusedAddress("The URL's host is not a valid name.")
    if ascii_host.rstrip(".") in {"localhost", "localhost.localdomain"} and not allow_loopback:
        raise RefusedAddress("The URL's host is or resolves to a loopback address.")
    try:
        addresses = list(resolver(ascii_host, port))
    except Exception:  # whatever the resolver raises (gaierror, a timeout, a guard): refused
        raise RefusedAddress("The URL's host does not resolve.") from None
    if not addresses:
        raise RefusedAddress("The URL's host does not resolve.")
    judged = [judge(address, allow_loopback=allow_loopback) for address in addresses]
    return Target(scheme=scheme, host=ascii_host, port=port, path=path, address=str(judged[0]))
