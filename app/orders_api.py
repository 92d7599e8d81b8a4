"""Plans and orders (issue 12): the command line's `positions open` over HTTP, for the
signed-in user. A plan places nothing; an order the plan refuses is answered 422 with
the reasons and stores nothing; an order with an `Idempotency-Key` header is placed once
however often it is sent (its position id derives from the user and the key)."""
from __future__ import annotations

import hashlib
import re
from decimal import Decimal
from typing import Any

from flask import request
from flask_smorest import Blueprint, abort

from app.auth import current_user, user_required
from app.schemas import OrderAnswerSchema, OrderSchema
from app.ownership import desk, own
from app.services import enqueue_advance
from store import positions as store

blp = Blueprint("orders", __name__, description="Plans and orders")

_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _request(desk: Any, body: dict[str, Any], *, plan_only: bool,
             position_id: str | None = None) -> Any:
    from core.decimals import decimal_option
    from core.settings import ConfigError, parse_address
    from core.units import ADA, Asset, UnitError, to_base
    from tasks.guard_rules import rules_of
    from tasks.position_orders import REFUSED_ERRORS, OpenRequest, OrderError

    def field_error(field: str, why: str) -> None:
        abort(422, errors={"json": {field: [why]}})

    leverage = decimal_option(body["leverage"], "leverage")
    if leverage <= 1:
        field_error("leverage", "above 1")
    token = Asset.from_unit(body["asset"])
    posted = ADA if body["collateral"] == "ADA" else token
    try:
        decimals = 6 if posted.is_ada else desk.dexhunter.token(posted).decimals
    except REFUSED_ERRORS as error:
        field_error("asset", f"DexHunter does not know this token ({error})")
    try:
        amount = to_base(decimal_option(body["amount"], "amount"), decimals, what="amount")
    except UnitError as error:
        field_error("amount", str(error))
    if amount <= 0:
        field_error("amount", "above 0")
    live = body["mode"] == "live"
    owner = None
    if live and body["signing"] == "wallet":  # the signed-in wallet signs each leg
        try:
            owner = parse_address("signing", current_user())
        except ConfigError:
            field_error("signing", "wallet signing needs a wallet sign-in (POST "
                                   "/auth/challenge): the user is then the wallet's address")
    guards = body.get("guards")
    if guards is not None:
        try:
            rules_of(guards)  # checked now; set (against the price then) once it is open
        except OrderError as error:
            field_error("guards", str(error))
    return OpenRequest(body["side"], token, posted, amount, leverage, body["venue"],
                       owner=owner, plan_only=plan_only, live=live, signing=body["signing"],
                       user=current_user(), position_id=position_id, guards=guards)


def _open(body: dict[str, Any], *, plan_only: bool, position_id: str | None = None
          ) -> dict[str, Any]:
    from tasks.position_orders import REFUSED_ERRORS, SERVICE_ERRORS, OrderError, \
        open_position

    desk_now = desk()
    try:
        open_request = _request(desk_now, body, plan_only=plan_only, position_id=position_id)
        if not plan_only:  # refused by the plan: nothing stored, the reasons answered
            planned = open_position(desk_now, _request(desk_now, body, plan_only=True),
                                    _no_enqueue)
            if not planned.get("ok"):
                abort(422, message="the order is refused", errors={"plan": planned})
        answer: dict[str, Any] = open_position(desk_now, open_request, enqueue_advance)
    except OrderError as error:
        abort(422, message=str(error))
    except REFUSED_ERRORS as error:
        abort(422, message=f"DexHunter refuses the order as it stands: {error}")
    except SERVICE_ERRORS as error:
        abort(503, message=f"a service did not answer now, nothing was placed: "
                           f"{type(error).__name__}")
    return answer


def _no_enqueue(_position_id: str) -> None:
    """A plan enqueues nothing."""


@blp.route("/plans", methods=["POST"])
@blp.arguments(OrderSchema)
@blp.response(200)
@user_required
def plan(body: dict[str, Any]) -> dict[str, Any]:
    """The plan of an order — venue, legs, fees, health, liquidation price — placing nothing."""
    return _open(body, plan_only=True)


@blp.route("/orders", methods=["POST"])
@blp.arguments(OrderSchema)
@blp.response(201, OrderAnswerSchema)
@user_required
def place(body: dict[str, Any]) -> Any:
    """Place an order: a paper position opened for you. With `Idempotency-Key`, sending it
    again (a retry) answers the first one's position and places nothing more."""
    key = request.headers.get("Idempotency-Key")
    position_id = None
    if key is not None:
        if not _IDEMPOTENCY_KEY.fullmatch(key):
            abort(422, errors={"headers": {"Idempotency-Key": ["1 to 64 of [A-Za-z0-9_-]"]}})
        digest = hashlib.sha256(f"{current_user()}\n{key}".encode()).hexdigest()
        position_id = f"ord-{digest[:24]}"
        found = store.read(desk().db, position_id)
        if found is not None:
            return _placed_before(found, body)
    try:
        answer = _open(body, plan_only=False, position_id=position_id)
    except store.PositionExists:  # a concurrent retry placed it first
        return _placed_before(store.read(desk().db, position_id or "") or {}, body)
    return {"position": answer["position"], "state": answer["state"], "plan": answer}


def _placed_before(found: dict[str, Any], body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    order = found.get("order") or {}
    if found.get("side") != body["side"] or order.get("token") != body["asset"] \
            or Decimal(str(order.get("leverage"))) != Decimal(body["leverage"]):
        abort(422, errors={"headers": {"Idempotency-Key": [
            "used before for another order"]}})
    return {"position": found["_id"], "state": found.get("state", ""), "plan": {}}, 200


@blp.route("/orders/<string:position_id>")
@blp.response(200)
@user_required
def show_order(position_id: str) -> dict[str, Any]:
    """An order is its position: its state, legs and history."""
    from tasks.position_orders import describe

    desk_now = desk()
    return dict(describe(desk_now, own(desk_now, position_id, "order"), detail=True))


@blp.route("/orders/<string:position_id>", methods=["DELETE"])
@blp.response(200)
@user_required
def withdraw(position_id: str) -> dict[str, Any]:
    """Withdraw an order that has not started (no leg planned yet); a started one is 409
    (close its position instead)."""
    from tasks.position_orders import OrderError, cancel_order

    desk_now = desk()
    own(desk_now, position_id, "order")
    try:
        return cancel_order(desk_now, position_id)
    except OrderError as error:
        abort(409, message=str(error))
