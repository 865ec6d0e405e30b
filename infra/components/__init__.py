"""Constructs: each owns its resources; the stacks in ``infra.stacks`` only compose them."""
