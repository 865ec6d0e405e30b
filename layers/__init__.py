"""The Lambda dependency layer: ``python -m layers.build`` (``make layer``)."""
