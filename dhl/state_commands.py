"""`dhl state utxos|cursors` and `dhl reprocess`: operators looking inside the pipeline."""
from __future__ import annotations

import argparse
import json
import os
import sys


from core.errors import ConfigError
from core.settings import load_settings, redact_url


def _db():  # type: ignore[no-untyped-def]
    """The settings and database of the stack: the operator's, or the one `dhl run` is
    running now (its embedded services are on ports it chose; it writes them down)."""
    from stack.runtime_env import read_runtime_env
    from store.mongo import PyMongoError, database, ping

    try:
        settings = load_settings()
        if "MONGO_URL" not in settings.explicit:
            # Into the environment, under what the operator set: Celery's app reads it
            # too, so `dhl reprocess` pokes the stack's queues in its Redis namespace.
            for key, value in read_runtime_env(settings.data_dir).items():
                os.environ.setdefault(key, value)
            settings = load_settings()
    except ConfigError as error:
        print(f"config error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    db = database(settings)
    try:
        ping(db.client)
    except PyMongoError as error:
        print(f"dhl: cannot reach MongoDB at {redact_url(settings.mongo_url)}: "
              f"{type(error).__name__} (is the stack running? set MONGO_URL)", file=sys.stderr)
        raise SystemExit(1) from None
    return settings, db


def cmd_utxos(args: argparse.Namespace) -> int:
    from store import utxos

    _, db = _db()
    for row in utxos.unspent(db, watchers=args.watcher or None, addresses=args.address or None):
        print(json.dumps(row, separators=(",", ":")))
    return 0


def cmd_cursors(args: argparse.Namespace) -> int:
    from store import chain_cursor, chain_log, watcher_cursors

    _, db = _db()
    last = chain_log.last_seq(db)
    print(json.dumps({
        "follower": {**chain_cursor.summary(db), "seq": last},
        "watchers": {c.watcher: {**c.to_json(), "behind": last - c.seq}
                   for c in watcher_cursors.read_all(db)},
        "poisoned": [{k: v for k, v in d.items() if k != "_id"}
                     for d in watcher_cursors.poisoned(db)],
    }, indent=2))
    return 0


def cmd_reprocess(args: argparse.Namespace) -> int:
    from chain.points import Point
    from store import watcher_cursors

    try:
        point = Point.parse(args.point)
    except ValueError as error:
        print(f"dhl reprocess: {error}", file=sys.stderr)
        return 2
    settings, db = _db()
    watchers = watcher_cursors.clear_poison(db, point.hash.hex())  # type: ignore[union-attr]
    if not watchers:
        print(f"dhl reprocess: no watcher is stopped at block {args.point}", file=sys.stderr)
        return 1
    from store import chain_log
    from tasks.celery_app import make_celery
    from tasks.chain import poke

    last = chain_log.last_seq(db)
    app = make_celery(settings)
    for watcher in watchers:
        poke(app, watcher, last, force=True)
    print(json.dumps({"reprocessing": watchers, "block": args.point}))
    return 0


def add_state_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    state = sub.add_parser("state", help="look inside the chain index")
    state_sub = state.add_subparsers(dest="what", required=True, metavar="WHAT")
    utxos = state_sub.add_parser("utxos", help="unspent UTxOs as JSON lines, sorted by reference")
    utxos.add_argument("--address", action="append", default=[], metavar="ADDR")
    utxos.add_argument("--watcher", action="append", default=[], metavar="NAME")
    utxos.set_defaults(func=cmd_utxos)
    cursors = state_sub.add_parser("cursors", help="the follower's and each watcher's cursor")
    cursors.set_defaults(func=cmd_cursors)

    reprocess = sub.add_parser("reprocess", help="re-run a poison block after a fix")
    reprocess.add_argument("point", metavar="SLOT.HASH")
    reprocess.set_defaults(func=cmd_reprocess)
