"""The operator's tools: one CLI, ``python -m ops <verb>`` (``make redrive``, ``make reindex``,
``make trace``, ``make backup``, ``make dr-drill`` ...), against the local runner by default and
against a deployed stage with ``STAGE=dev|prod`` (docs/operations/runbooks/)."""
