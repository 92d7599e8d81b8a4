"""A user's positions and alerts (issue 12): read only for now — each over the same
functions as the command line (tasks/position_orders.describe, store/alerts). A user sees
only their own: another's position is 404."""
from __future__ import annotations

import time
from typing import Any

from flask_smorest import Blueprint, abort

from app.auth import current_user, user_required
from app.schemas import AlertListSchema, AlertQuerySchema, PositionListSchema, \
    WebhookAskSchema, WebhookRemovedSchema, WebhookSchema
from app.ownership import desk, own
from store import alerts as alert_store
from store import positions as store
from tasks.alerts import public

blp = Blueprint("positions", __name__, description="Your positions and alerts")


@blp.route("/positions")
@blp.response(200, PositionListSchema)
@user_required
def list_positions() -> dict[str, Any]:
    from tasks.position_orders import describe

    desk_now = desk()
    return {"positions": [describe(desk_now, doc)
                          for doc in store.of_user(desk_now.db, current_user())]}


@blp.route("/positions/<string:position_id>")
@blp.response(200)
@user_required
def show_position(position_id: str) -> dict[str, Any]:
    from tasks.position_orders import describe

    desk_now = desk()
    return dict(describe(desk_now, own(desk_now, position_id), detail=True))


@blp.route("/alerts")
@blp.arguments(AlertQuerySchema, location="query")
@blp.response(200, AlertListSchema)
@user_required
def list_alerts(query: dict[str, Any]) -> dict[str, Any]:
    db = desk().db
    return {"alerts": [public(doc) for doc in alert_store.recent(
        db, user=current_user(), position=query.get("position"), limit=query["limit"])]}


@blp.route("/alerts/webhook", methods=["PUT"])
@blp.arguments(WebhookAskSchema)
@blp.response(200, WebhookSchema)
@user_required
def set_webhook(body: dict[str, Any]) -> dict[str, Any]:
    """Your alerts POSTed to `url` as they are raised, signed; the secret is shown once."""
    from core.webhooks import WebhookError, new_secret, public_webhook_url

    try:
        url = public_webhook_url(body["url"])
    except WebhookError as error:
        abort(422, errors={"json": {"url": [str(error)]}})
    secret = new_secret()
    alert_store.set_webhook(desk().db, current_user(), url, secret, int(time.time() * 1000))
    return {"url": url, "secret": secret}


@blp.route("/alerts/webhook", methods=["DELETE"])
@blp.response(200, WebhookRemovedSchema)
@user_required
def remove_webhook() -> dict[str, Any]:
    return {"removed": alert_store.remove_webhook(desk().db, current_user())}
