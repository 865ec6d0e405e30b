"""The local runner: the whole system on one machine, with no AWS account and no Docker.

``python -m local`` (``make local``) starts moto on loopback, creates the resources the CDK app
creates, runs the migrations, serves the API as API Gateway would, polls every queue into its
worker and runs the schedules. Everything is derived from ``functions/registry.py``.
"""
