"""Stacks: they compose constructs from ``infra.components`` and own no resource directly."""

from infra.stacks.api import ApiStack
from infra.stacks.recovery import RecoveryStack
from infra.stacks.stateful import StatefulStack

__all__ = ["ApiStack", "RecoveryStack", "StatefulStack"]
