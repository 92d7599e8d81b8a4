"""`/`: an index of the service's links, until the dashboard takes its place.

JSON for programs; an HTML list when the client prefers text/html (a browser opening
the URL that `dhl run` prints).
"""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from markupsafe import escape

from app.services import services
from core.settings import Settings

bp = Blueprint("index", __name__)

#: name -> (path on this service, what it is)
LINKS: dict[str, tuple[str, str]] = {
    "health": ("/health", "liveness of the web process"),
    "ready": ("/ready", "readiness: MongoDB, Redis, the broker, the follower, the watchers"),
    "metrics": ("/metrics", "Prometheus metrics of the chain pipeline"),
    "docs": ("/docs", "API documentation (Swagger UI)"),
    "openapi": ("/openapi.json", "the OpenAPI document"),
}


def links(settings: Settings) -> dict[str, str]:
    found = {name: path for name, (path, _) in LINKS.items()}
    if settings.flower_url:  # Flower is another process, perhaps elsewhere
        found["flower"] = settings.flower_url + "/"
    return found


def _html(settings: Settings, found: dict[str, str]) -> str:
    about = {name: text for name, (_, text) in LINKS.items()}
    about["flower"] = "Flower: Celery workers, queues and tasks"
    items = "".join(f'<li><a href="{escape(url)}">{escape(url)}</a>: {escape(about[name])}</li>'
                    for name, url in found.items())
    return ("<!doctype html><html><head><meta charset=\"utf-8\"><title>DH-Leverage</title>"
            f"</head><body><h1>DH-Leverage</h1><p>{escape(settings.mode)} mode</p>"
            f"<ul>{items}</ul></body></html>")


@bp.route("/")
def index() -> Response:
    settings = services().settings
    found = links(settings)
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
        response = Response(_html(settings, found), mimetype="text/html")
    else:
        response = jsonify({"service": "DH-Leverage", "mode": settings.mode, "links": found})
    response.vary.add("Accept")  # one URL, two bodies: caches must tell them apart
    return response
