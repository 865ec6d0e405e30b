"""moto's threaded server on a free loopback port, for suites that need AWS without a runner."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from local.runner import free_port


@contextmanager
def threaded_moto() -> Iterator[str]:
    """A moto server for the block; its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
