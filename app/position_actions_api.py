"""Acting on your positions (issue 12): close (all or a share), add collateral, set the
guards, and your kill switch — the command line's, over the same functions. Another
user's position is 404; a request the position cannot take now is 422 saying why."""
from __future__ import annotations

import time
from decimal import Decimal
from typing import Any, Callable

from flask_smorest import Blueprint, abort

from app.auth import current_user, user_required
from app.schemas import CloseSchema, CollateralSchema, GuardsSchema, KillSwitchSchema
from app.ownership import desk, own
from app.services import enqueue_advance

blp = Blueprint("position-actions", __name__, description="Acting on your positions")


def _acting(action: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    from tasks.position_orders import OrderError

    try:
        answer = action()
    except OrderError as error:
        abort(422, message=str(error))
    if answer.get("ok") is False:
        abort(422, message="refused", errors={"plan": answer})
    return answer


@blp.route("/positions/<string:position_id>/close", methods=["POST"])
@blp.arguments(CloseSchema)
@blp.response(200)
@user_required
def close(body: dict[str, Any], position_id: str) -> dict[str, Any]:
    """Close the position, or `fraction` of it."""
    from tasks.position_orders import close_position

    desk_now = desk()
    own(desk_now, position_id)
    return _acting(lambda: close_position(desk_now, position_id, Decimal(body["fraction"]),
                                          enqueue_advance))


@blp.route("/positions/<string:position_id>/collateral", methods=["POST"])
@blp.arguments(CollateralSchema)
@blp.response(200)
@user_required
def collateral(body: dict[str, Any], position_id: str) -> dict[str, Any]:
    """Add collateral (display units of the position's collateral asset)."""
    from core.units import Asset, UnitError, to_base
    from tasks.position_orders import add_collateral

    desk_now = desk()
    doc = own(desk_now, position_id)
    asset = Asset.from_unit(str(doc["collateral_asset"]))
    decimals = 6 if asset.is_ada else desk_now.dexhunter.token(asset).decimals
    try:
        amount = to_base(Decimal(body["amount"]), decimals, what="amount")
    except UnitError as error:
        abort(422, errors={"json": {"amount": [str(error)]}})
    if amount <= 0:
        abort(422, errors={"json": {"amount": ["above 0"]}})
    return _acting(lambda: add_collateral(desk_now, position_id, amount, enqueue_advance))


@blp.route("/positions/<string:position_id>/guards", methods=["PUT"])
@blp.arguments(GuardsSchema)
@blp.response(200)
@user_required
def guards(body: dict[str, Any], position_id: str) -> dict[str, Any]:
    """Set the guards: a new version replaces the current one (docs/guards.md)."""
    from tasks.guard_rules import apply_guards, rules_of
    from tasks.position_orders import OrderError

    desk_now = desk()
    own(desk_now, position_id)
    try:
        rules = rules_of(body)
    except OrderError as error:
        abort(422, message=str(error))
    return _acting(lambda: apply_guards(desk_now, position_id, rules))


@blp.route("/kill-switch", methods=["PUT"])
@blp.arguments(KillSwitchSchema)
@blp.response(200)
@user_required
def kill_switch(body: dict[str, Any]) -> dict[str, Any]:
    """Your kill switch: on, every open position of yours is closed by the next guards
    tick and none opens until it is off."""
    from store import kill_switches

    switch = kill_switches.set_switch(desk().db, current_user(), body["state"] == "on",
                                      int(time.time() * 1000))
    return {"state": switch.get("state"), "since_ms": switch.get("since_ms")}
