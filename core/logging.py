"""Process-wide logging set-up: one format, the configured level, secrets redacted."""
from __future__ import annotations

import logging

from core.secrets import RedactingFilter
from core.settings import Settings

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(settings: Settings) -> None:
    """Set the root level and add the redaction filter to every root handler."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format=FORMAT)
    root.setLevel(settings.log_level)
    redactor = RedactingFilter(settings.secret_values())
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(redactor)
