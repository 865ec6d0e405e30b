"""The tests' network guard refuses anything but loopback, before a packet leaves."""

from __future__ import annotations

import socket

import pytest

from tests.support.network_guard import OffMachineConnection


@pytest.mark.parametrize(
    "address",
    [("192.0.2.1", 80), ("10.0.0.1", 5432), ("169.254.169.254", 80), ("8.8.8.8", 53)],
)
def test_a_connect_off_the_machine_fails(address):
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock,
        pytest.raises(OffMachineConnection),
    ):
        sock.connect(address)


@pytest.mark.parametrize("name", ["example.com", "s3.amazonaws.com", "169.254.169.254.nip.io"])
def test_a_lookup_of_a_real_name_fails(name):
    with pytest.raises(OffMachineConnection):
        socket.getaddrinfo(name, 443)


def test_loopback_is_allowed():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=2):
            pass
    assert socket.getaddrinfo("localhost", 80)
    with socket.socket(socket.AF_INET6) as sock:
        # ::1 is let through to the OS, which refuses (nothing listens on port 9) or connects
        assert isinstance(sock.connect_ex(("::1", 9)), int)
