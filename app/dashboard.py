"""The dashboard (`/dashboard`): plain HTML, CSS and JavaScript served as files (no build
step) over the API and /ws. A strict Content-Security-Policy: only this origin's
scripts, no inline code, connections to this origin (and its WebSocket) only."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, send_from_directory

bp = Blueprint("dashboard", __name__)

FILES = Path(__file__).parent / "static" / "dashboard"
POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
          "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'")


def _strict(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.route("/dashboard")
def page() -> Response:
    return _strict(send_from_directory(FILES, "index.html", max_age=0))


@bp.route("/dashboard/<any('dashboard.js', 'dashboard.css'):name>")
def asset(name: str) -> Response:
    return _strict(send_from_directory(FILES, name, max_age=0))
