"""A user's positions and alerts (issue 12): read only for now — each over the same
functions as the command line (tasks/position_orders.describe, store/alerts). A user sees
only their own: another's position is 404."""
from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint, abort

from app.auth import current_user, user_required
from app.schemas import AlertListSchema, AlertQuerySchema, PositionListSchema
from app.services import services
from store import alerts as alert_store
from store import positions as store
from tasks.alerts import public

blp = Blueprint("positions", __name__, description="Your positions and alerts")


def _desk() -> Any:
    from tasks.positions import desk_for

    return desk_for(services().settings)


@blp.route("/positions")
@blp.response(200, PositionListSchema)
@user_required
def list_positions() -> dict[str, Any]:
    from tasks.position_orders import describe

    desk = _desk()
    return {"positions": [describe(desk, doc) for doc in store.of_user(desk.db,
                                                                       current_user())]}


@blp.route("/positions/<string:position_id>")
@blp.response(200)
@user_required
def show_position(position_id: str) -> dict[str, Any]:
    from tasks.position_orders import describe

    desk = _desk()
    doc = store.read(desk.db, position_id)
    if doc is None or store.user_of(doc) != current_user():
        abort(404, message=f"no position {position_id}")
    return dict(describe(desk, doc, detail=True))


@blp.route("/alerts")
@blp.arguments(AlertQuerySchema, location="query")
@blp.response(200, AlertListSchema)
@user_required
def list_alerts(query: dict[str, Any]) -> dict[str, Any]:
    db = _desk().db
    return {"alerts": [public(doc) for doc in alert_store.recent(
        db, user=current_user(), position=query.get("position"), limit=query["limit"])]}
