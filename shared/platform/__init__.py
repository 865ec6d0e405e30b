"""The platform: what every function stands on, and no domain rule.

Transport (``http``: FastAPI routes through Mangum; ``worker``: SQS batches; ``jobs``: schedules
and deploy jobs; ``authorizer``: the API Gateway authorizer), declarations (``declare``),
settings, observability, the error taxonomy, and the clients of the stores (``db``, ``cache``,
``aws``, ``secrets``, ``queues``, ``outbox``), with the helpers built on them (rate limits,
cursors, pagination). Domain packages (``shared.auth``, ``shared.users``, ...) may use the
clients but never the transport; ``functions/`` is the only place that joins the two (an
import-linter contract in ``pyproject.toml`` keeps it so).
"""
