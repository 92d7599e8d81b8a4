"""Who is asking: `Authorization: Bearer <API key>` (core/api_keys.py; `dhl apikey
create USER` makes one and shows it once) or `Bearer <session token>` from a wallet
sign-in (app/sign_in.py). A view decorated with `user_required` runs
with `current_user()` set, or the request is answered 401 (JSON) and nothing is done.
Another user's resource is answered as if it did not exist (404), never 403, so ids
cannot be probed.
"""
from __future__ import annotations

import functools
import time

from typing import Any, Callable, TypeVar, cast

from flask import g, request
from flask_smorest import abort

from app.limits import check_rate
from app.services import services
from core.api_keys import digest, matches, parse, session_secret
from store import api_keys, sessions
from store.mongo import database

F = TypeVar("F", bound=Callable[..., Any])


def user_from_request() -> str | None:
    """The user of the request's API key, or None (no key, not a key, unknown, revoked)."""
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return user_of_token(presented)


def user_of_token(presented: str) -> str | None:
    """The user of an API key or session token, or None; counted against its rate."""
    settings = services().settings
    session_secret_text = session_secret(presented.strip())
    if session_secret_text is not None:  # a wallet sign-in's session (app/sign_in.py)
        found = sessions.session(database(settings), digest(session_secret_text))
        if found is None or int(found["expires_ms"]) < int(time.time() * 1000):
            return None
        check_rate(settings, "session-" + digest(session_secret_text)[:16])
        return str(found["user"])
    parsed = parse(presented.strip())
    if parsed is None:
        return None
    key_id, secret = parsed
    kept = api_keys.read(database(settings), key_id)
    if kept is None or "revoked_ms" in kept or not matches(secret, str(kept["digest"])):
        return None
    check_rate(settings, key_id)
    return str(kept["user"])


def user_required(view: F) -> F:
    @functools.wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        user = user_from_request()
        if user is None:
            abort(401, message="Authorization: Bearer <API key> (dhl apikey create USER)")
        g.dhl_user = user
        return view(*args, **kwargs)
    return cast(F, checked)


def current_user() -> str:
    return str(g.dhl_user)


