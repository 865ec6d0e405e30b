"""Stratus infrastructure: the CDK app (``infra.app``), its stacks and its constructs.

Importing this package is cheap: only ``infra.config`` is free of CDK imports, and the layer
build (``layers/build.py``) relies on that.
"""
