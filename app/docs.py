"""Serves the Swagger UI assets from the swagger-ui-bundle package, so /docs works offline."""
from __future__ import annotations

from flask import Blueprint, send_from_directory
from swagger_ui_bundle import swagger_ui_path

ASSETS_URL = "/docs/assets/"

bp = Blueprint("docs_assets", __name__)


@bp.route(ASSETS_URL + "<path:filename>")
def asset(filename: str):  # type: ignore[no-untyped-def]
    return send_from_directory(swagger_ui_path, filename, max_age=3600)
