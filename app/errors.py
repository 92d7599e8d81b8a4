"""Every error leaves the API as JSON; unexpected ones are logged, never shown."""
from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(Exception)
    def unexpected(error: Exception):  # type: ignore[no-untyped-def]
        if isinstance(error, HTTPException):  # handled by flask-smorest's JSON handler
            return error
        log.exception("unhandled error")
        body = {"code": 500, "status": "Internal Server Error",
                "message": "internal error; the operator has the details in the log"}
        return jsonify(body), 500
