"""The desk a request works with, and the one rule of who sees what: a position (an
order) is shown to, and acted on by, its user only; another's is answered 404, as a
missing one is (app/auth.py says who the user is)."""
from __future__ import annotations

from typing import Any

from flask_smorest import abort

from app.auth import current_user
from app.services import services
from store import positions as store


def desk() -> Any:
    from tasks.positions import desk_for

    return desk_for(services().settings)


def own(desk_now: Any, position_id: str, noun: str = "position") -> dict[str, Any]:
    """The signed-in user's position `position_id`, or 404."""
    doc = store.read(desk_now.db, position_id)
    if doc is None or store.user_of(doc) != current_user():
        abort(404, message=f"no {noun} {position_id}")
    return dict(doc)  # type: ignore[arg-type]
