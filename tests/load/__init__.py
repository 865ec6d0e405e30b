"""``make load``: a bounded mixed load on loopback against a local runner (``tests.load.mixed``)."""
