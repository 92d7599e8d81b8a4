"""`dhl state utxos|cursors` and `dhl reprocess`: operators looking inside the pipeline."""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path


from core.errors import ConfigError
from core.settings import (Settings, load_settings, parse_address, read_environment,
                           redact_url, settings_from_mapping)


@dataclass(frozen=True)
class RunningStack:
    """A `dhl run` of this project running now, found through its DATA_DIR/run.env."""

    path: Path
    pid: int | None  # None: a run.env written before the pid was recorded
    values: dict[str, str]  # what that run chose itself: service URLs, node, network


def running_stack(data_dir: Path) -> RunningStack | None:
    from dotenv import dotenv_values

    from stack import lock
    from stack.runtime_env import RUNTIME_ENV, RUNTIME_PID

    path = data_dir / RUNTIME_ENV
    if not path.is_file():
        return None
    try:
        values = {k: v for k, v in dotenv_values(path).items() if v is not None}
    except (OSError, UnicodeDecodeError):
        return None
    if not lock.is_held(data_dir):
        return None  # left behind by a run that was killed: its lock died with it
    pid_text = values.pop(RUNTIME_PID, "")
    return RunningStack(path, int(pid_text) if pid_text.isdigit() else None, values)


def stack_settings(*, prefer_operator_mongo: bool = False
                   ) -> tuple[Settings, RunningStack | None]:
    """The settings of the `dhl run` stack running now (its own services' URLs and Redis
    namespace from run.env, the rest from the environment and .env, which win: run.env
    never holds what the operator set), else the settings `dhl run` would use. Raises
    ConfigError. `prefer_operator_mongo`: with no stack running, an operator's MONGO_URL
    means their deployment, read as it is, not as a local replay."""
    environ = read_environment()
    theirs = prefer_operator_mongo and bool(environ.get("MONGO_URL", "").strip())
    settings = settings_from_mapping(environ, replay=not theirs)
    stack = running_stack(settings.data_dir)
    if stack is None:
        return settings, None
    return load_settings({**stack.values, **os.environ}, replay=True), stack


def _db():  # type: ignore[no-untyped-def]
    """The settings and database of the stack: the operator's, or the one `dhl run` is
    running now (its embedded services are on ports it chose; it writes them down)."""
    from store.mongo import PyMongoError, database, ping

    try:
        settings, _ = stack_settings(prefer_operator_mongo=True)
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

    # Checked before anything is read: a mistyped address would otherwise match nothing.
    try:
        addresses = [parse_address("--address", a) for a in args.address]
    except ConfigError as error:
        print(f"dhl state utxos: {error}", file=sys.stderr)
        return 2
    _, db = _db()
    for row in utxos.unspent(db, watchers=args.watcher or None, addresses=addresses or None):
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
    except ValueError:
        point = None
    if point is None or point.is_origin:  # origin is no block: nothing stops there
        print(f"dhl reprocess: expected SLOT.HASH (a block's slot and 64-hex-digit hash), "
              f"got {args.point!r}", file=sys.stderr)
        return 2
    settings, db = _db()
    assert point.hash is not None
    watchers = watcher_cursors.clear_poison(db, point.hash.hex())
    if not watchers:
        print(f"dhl reprocess: no watcher is stopped at block {args.point}", file=sys.stderr)
        return 1
    from store import chain_log
    from tasks.celery_app import make_celery
    from tasks.chain import poke

    last = chain_log.last_seq(db)
    app = make_celery(settings)
    try:
        for watcher in watchers:
            poke(app, watcher, last, force=True)
    except Exception as error:  # the broker: the poison is cleared, the beat will poke
        print(f"dhl reprocess: cleared {', '.join(watchers)} at block {args.point}, but could "
              f"not enqueue them ({type(error).__name__}); the beat's catch-up will within "
              "30 s", file=sys.stderr)
        return 1
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
