"""`dhl apikey create USER` (the key printed once), `dhl apikey list [--user U]`,
`dhl apikey revoke KEY_ID` — API keys for bots (core/api_keys.py; only a digest is kept).

Exit codes as `dhl positions`: 0 done, 1 a service failed, 2 bad input.
"""
from __future__ import annotations

import argparse
import json
import time

from dhl.position_commands import EXIT_OK, BadInput, _desk, _guarded, _settings


def cmd_create(args: argparse.Namespace) -> int:
    from core.api_keys import new_key, user_id
    from store import api_keys

    try:
        user = user_id(args.user)
    except ValueError as error:
        raise BadInput(f"USER: {error}") from None
    desk = _desk(_settings())
    key_id, kept, key = new_key()
    api_keys.add(desk.db, key_id, user, kept, int(time.time() * 1000))
    # Shown this once: only its digest is kept.
    print(json.dumps({"ok": True, "user": user, "key_id": key_id, "key": key}))
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    from store import api_keys

    for doc in api_keys.of_user(_desk(_settings()).db, args.user):
        print(json.dumps({("key_id" if k == "_id" else k): v for k, v in doc.items()},
                         sort_keys=True))
    return EXIT_OK


def cmd_revoke(args: argparse.Namespace) -> int:
    from store import api_keys

    revoked = api_keys.revoke(_desk(_settings()).db, args.key_id, int(time.time() * 1000))
    print(json.dumps({"ok": revoked, "key_id": args.key_id}))
    return EXIT_OK if revoked else 2


def add_apikey_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    keys = sub.add_parser("apikey", help="API keys for bots: create (shown once), list, revoke")
    ksub = keys.add_subparsers(dest="apikey_command", required=True)
    create = ksub.add_parser("create", help="a new key for USER, printed once")
    create.add_argument("user", metavar="USER")
    create.set_defaults(func=_guarded(cmd_create))
    listing = ksub.add_parser("list", help="keys (ids, users, dates; never a secret)")
    listing.add_argument("--user", default=None, metavar="USER")
    listing.set_defaults(func=_guarded(cmd_list))
    revoke = ksub.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id", metavar="KEY_ID")
    revoke.set_defaults(func=_guarded(cmd_revoke))
