"""Stratus shared package: the Lambda layer every function imports (as /opt/python/shared).

Nothing here does I/O at import time: clients, engines and the tracer are created lazily, once
per execution environment, behind cached getters.
"""
