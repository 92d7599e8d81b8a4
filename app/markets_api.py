"""The venues, their markets and quotes (issue 12): public (no one's data), over
tasks/venue_views.py — the same as `dhl venues list|markets|quote`."""
from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from flask_smorest import Blueprint, abort

from app.schemas import QuoteAskSchema
from app.services import services

blp = Blueprint("markets", __name__, description="Venues, markets and quotes")


def _now() -> int:
    return int(time.time() * 1000)


@blp.route("/venues")
@blp.response(200)
def venues() -> dict[str, Any]:
    """Each venue: on, or why not."""
    from tasks.venue_views import venues as rows

    return {"venues": rows(services().settings)}


@blp.route("/markets")
@blp.response(200)
def markets() -> dict[str, Any]:
    """Every current market: rates, LTVs, liquidity, fees, age and whether it is stale."""
    from tasks.venue_views import markets as rows

    return {"markets": rows(services().settings, _now())}


@blp.route("/quotes")
@blp.arguments(QuoteAskSchema, location="query")
@blp.response(200)
def quotes(ask: dict[str, Any]) -> dict[str, Any]:
    """Every market for a position ranked by effective cost (interest, origination,
    batcher, swaps): the cheapest chosen, the others with the reasons they are not."""
    from core.units import UnitError, to_base
    from tasks.venue_views import QuoteAskError, quote

    try:
        size = to_base(ask["size"], 6, what="size")
    except UnitError as error:
        abort(422, errors={"query": {"size": [str(error)]}})
    try:
        return quote(services().settings, _now(), side=ask["side"], asset=ask["asset"],
                     size=size, leverage=Decimal(ask["leverage"]), days=Decimal(ask["days"]),
                     price=None if ask["price"] is None else Decimal(ask["price"]))
    except QuoteAskError as error:
        abort(422, errors={"query": {error.field: [error.why]}})
