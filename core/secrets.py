"""Secret values that must never reach a log line, an HTTP response or a repr."""
from __future__ import annotations

import logging

REDACTED = "***"


class Secret:
    """Holds a secret string; only `reveal()` gives it back.

    `str()`, `repr()` and formatting all show `***`, so a secret passed to a logger
    or dumped with the settings by mistake stays hidden.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return f"Secret({REDACTED})"

    def __str__(self) -> str:
        return REDACTED

    def __format__(self, spec: str) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))


class RedactingFilter(logging.Filter):
    """Replaces any known secret value in a formatted log message with `***`.

    A last line of defence: code should never log secrets, but a URL with a
    password or a third-party library's debug line might.
    """

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        # Short values would redact innocent text; secrets worth the name are longer.
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        redacted = message
        for secret in self._secrets:
            redacted = redacted.replace(secret, REDACTED)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True
