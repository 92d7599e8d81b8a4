"""The root of the project's own exceptions.

Each package subclasses `AppError`; whether a failure is worth retrying is decided
by its type (`TransientError`) at the call site, not by parsing messages.
"""
from __future__ import annotations


class AppError(Exception):
    """Base of every error the project raises on purpose."""


class TransientError(AppError):
    """A failure that may succeed on retry (a service down, a timeout)."""


class ConfigError(AppError):
    """A setting is missing or malformed. `str()` is the one line an operator sees."""

    def __init__(self, variable: str, expected: str, got: str | None) -> None:
        self.variable = variable
        self.expected = expected
        self.got = got
        shown = "nothing" if got is None else got
        super().__init__(f"{variable}: expected {expected}, got {shown}")


class ConfigConflict(ConfigError):
    """A well-formed setting this machine cannot honour now: a port in use, a data
    directory or a key namespace taken by another stack. `str()` is the operator's line."""

    def __init__(self, variable: str, problem: str) -> None:
        AppError.__init__(self, f"{variable}: {problem}")
        self.variable = variable
        self.expected = problem
        self.got = None
