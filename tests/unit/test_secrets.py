from __future__ import annotations

import logging

from core.secrets import RedactingFilter, Secret


def test_secret_hides_itself_everywhere():
    s = Secret("partner-key-123")
    assert s.reveal() == "partner-key-123"
    assert "partner-key-123" not in f"{s} {s!r} {s:>20} {[s]}"
    assert bool(Secret("")) is False


def test_redacting_filter_scrubs_known_values(caplog):
    logger = logging.getLogger("test.redact")
    handler_filter = RedactingFilter(["partner-key-123", "ab"])
    logger.addFilter(handler_filter)
    try:
        with caplog.at_level(logging.INFO, logger="test.redact"):
            logger.info("calling with key %s and ab", "partner-key-123")
    finally:
        logger.removeFilter(handler_filter)
    assert caplog.records[0].getMessage() == "calling with key *** and ab"
