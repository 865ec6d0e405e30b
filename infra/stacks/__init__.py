"""Stacks: they compose constructs from ``infra.components`` and own no resource directly."""

from infra.stacks.api import ApiStack
from infra.stacks.stateful import StatefulStack

__all__ = ["ApiStack", "StatefulStack"]
