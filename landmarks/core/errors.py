"""The error of a bad argument, named as Python calls it; each command line says it its own way."""
from __future__ import annotations


class ArgumentError(ValueError):
    """``argument`` (a parameter's Python name, e.g. ``init``) cannot be used: ``why``."""

    def __init__(self, argument: str, why: str):
        super().__init__(f"{argument}: {why}")
        self.argument, self.why = argument, why
