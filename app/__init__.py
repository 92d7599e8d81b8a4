"""The Flask web process: `gunicorn "app:create_app()"`.

The factory is a list of init steps (settings, services, API and blueprints, error
handlers); views stay thin over the packages below.
"""
from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version

from flask import Flask
from flask_smorest import Api

from core.logging import configure_logging
from core.settings import Settings, load_settings_or_exit

log = logging.getLogger(__name__)


def _api_config(settings: Settings) -> dict[str, object]:
    from app.docs import ASSETS_URL

    try:
        api_version = version("dh-leverage")
    except PackageNotFoundError:
        api_version = "0"
    return {
        "API_TITLE": "DH-Leverage",
        "API_VERSION": api_version,
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        "OPENAPI_SWAGGER_UI_URL": ASSETS_URL,
        "API_SPEC_OPTIONS": {
            "info": {"description": "Leveraged long and short positions on Cardano "
                                    f"({settings.mode} mode)."},
        },
    }


def create_app(settings: Settings | None = None) -> Flask:
    """Build the web app. Without `settings` they are read (and validated) from the environment."""
    settings = settings or load_settings_or_exit()
    configure_logging(settings)

    app = Flask(__name__)
    app.config.update(_api_config(settings))
    app.json.sort_keys = False  # type: ignore[attr-defined]

    from app import services

    services.init_app(app, settings)
    from app import limits

    limits.init_app(app, settings)
    _ensure_indexes(settings)

    from app import dashboard, docs, health, index, markets_api, metrics, orders_api, \
        position_actions_api, positions_api, sign_in, wallet_signing
    from app.errors import register_error_handlers

    api = Api(app)
    api.register_blueprint(health.blp)
    api.register_blueprint(wallet_signing.blp)
    api.register_blueprint(positions_api.blp)
    api.register_blueprint(orders_api.blp)
    api.register_blueprint(position_actions_api.blp)
    api.register_blueprint(sign_in.blp)
    api.register_blueprint(markets_api.blp)
    api.spec.components.security_scheme("apiKey", {"type": "http", "scheme": "bearer",
                                                   "description": "dhl apikey create USER"})
    app.register_blueprint(docs.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(index.bp)
    app.register_blueprint(metrics.bp)
    register_error_handlers(app)
    from app import live_ws

    live_ws.init_app(app, settings)
    return app


def _ensure_indexes(settings: Settings) -> None:
    # The web process must start even while MongoDB is down: /ready then says so.
    from store.indexes import ensure_indexes
    from store.mongo import database

    try:
        ensure_indexes(database(settings))
    except Exception as error:
        log.warning("could not create MongoDB indexes at start (%s); /ready will report MongoDB",
                    type(error).__name__)
