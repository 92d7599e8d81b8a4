"""`/`: the dashboard for a browser (a client preferring text/html: the URL that `dhl
run` prints), an index of the service's links as JSON for programs."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, redirect, request

from app.services import services
from core.settings import Settings

bp = Blueprint("index", __name__)

#: name -> (path on this service, what it is)
LINKS: dict[str, tuple[str, str]] = {
    "health": ("/health", "liveness of the web process"),
    "ready": ("/ready", "readiness: MongoDB, Redis, the broker, the follower, the watchers"),
    "metrics": ("/metrics", "Prometheus metrics of the chain pipeline"),
    "dashboard": ("/dashboard", "the trader's dashboard"),
    "docs": ("/docs", "API documentation (Swagger UI)"),
    "openapi": ("/openapi.json", "the OpenAPI document"),
}


def links(settings: Settings) -> dict[str, str]:
    found = {name: path for name, (path, _) in LINKS.items()}
    if settings.flower_url:  # Flower is another process, perhaps elsewhere
        found["flower"] = settings.flower_url + "/"
    return found


@bp.route("/")
def index() -> Response:
    settings = services().settings
    found = links(settings)
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
        response = redirect("/dashboard")
    else:
        response = jsonify({"service": "DH-Leverage", "mode": settings.mode, "links": found})
    response.vary.add("Accept")  # one URL, two bodies: caches must tell them apart
    return response
