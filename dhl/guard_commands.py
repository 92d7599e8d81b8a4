"""`dhl guards status`, `dhl kill-switch on|off [--user U]` and `dhl alerts` (docs/guards.md).

Exit codes as `dhl positions`: 0 done, 1 a service failed, 2 bad input.
"""
from __future__ import annotations

import argparse
import json
import time
from typing import Any

from dhl.position_commands import EXIT_OK, BadInput, _desk, _guarded, _settings


def _jsonable(doc: dict[str, Any]) -> dict[str, Any]:
    return {("id" if k == "_id" else k): v for k, v in doc.items()}


def cmd_guards_status(args: argparse.Namespace) -> int:
    from store import guards as store
    from store import kill_switches

    settings = _settings()
    desk = _desk(settings)
    runs = store.last_runs(desk.db)
    every = {"tick": settings.guard_tick_seconds, "prices": settings.guard_tick_seconds,
             "health": settings.health_refresh_seconds, "watchdog": 60}
    jobs = {name: {"every_s": seconds,
                   **({"last_ms": runs[name]["at_ms"],
                       "next_due_ms": int(runs[name]["at_ms"]) + seconds * 1000,
                       **{k: v for k, v in runs[name].items() if k not in ("_id", "at_ms")}}
                      if name in runs else {"last_ms": None})}
            for name, seconds in every.items()}
    status = {"jobs": jobs, "triggers": store.counts_by_kind(desk.db),
              "guarded_markets": store.markets(desk.db),
              "price_max_age_s": settings.price_max_age_seconds,
              "live_prices": [_jsonable(d) for d in store.prices(desk.db)],
              "kill_switches": [_jsonable(d) for d in kill_switches.all_switches(desk.db)],
              "fired": [_jsonable(d) for d in store.recent_executions(desk.db, args.limit)]}
    print(json.dumps(status, indent=2, sort_keys=True, default=str))
    return EXIT_OK


def cmd_kill_switch(args: argparse.Namespace) -> int:
    from store import kill_switches

    desk = _desk(_settings())
    switch = kill_switches.set_switch(desk.db, args.user, args.state == "on",
                                      int(time.time() * 1000))
    covered = "every user's" if args.user is None else f"{args.user}'s"
    what = (f"{covered} open positions are closed by the next guards tick; no position "
            f"opens under it" if args.state == "on" else "positions open and guards act again")
    print(json.dumps({"ok": True, **_jsonable(switch), "effect": what}, sort_keys=True))
    return EXIT_OK


def cmd_alerts(args: argparse.Namespace) -> int:
    from store import alerts as store
    from tasks.alerts import public

    desk = _desk(_settings())
    for doc in store.recent(desk.db, user=args.user, position=args.position, limit=args.limit):
        print(json.dumps({**public(doc), **({"webhook": doc["webhook"]} if "webhook" in doc
                                            else {})}, sort_keys=True, default=str))
    return EXIT_OK


def cmd_webhook(args: argparse.Namespace) -> int:
    from core.webhooks import WebhookError, new_secret, webhook_url
    from store import alerts as store

    if not args.remove:
        try:
            url = webhook_url(args.url)
        except WebhookError as error:
            raise BadInput(f"--url: {error}") from None
    desk = _desk(_settings())
    if args.remove:
        print(json.dumps({"ok": True, "user": args.user,
                          "removed": store.remove_webhook(desk.db, args.user)}))
        return EXIT_OK
    secret = new_secret()
    store.set_webhook(desk.db, args.user, url, secret, int(time.time() * 1000))
    # The secret is shown this once: the user keeps it to check the signatures.
    print(json.dumps({"ok": True, "user": args.user, "url": url, "secret": secret}))
    return EXIT_OK


def _limit(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError("a limit is 1 to 1000")
    return value


def add_guard_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    guards = sub.add_parser("guards", help="the guards: status (rules, last tick, next "
                                           "due, what fired)")
    gsub = guards.add_subparsers(dest="guards_command", required=True)
    status = gsub.add_parser("status", help="rules, last tick, next due, what fired")
    status.add_argument("--limit", type=_limit, default=20, metavar="N",
                        help="how many recent executions (default 20)")
    status.set_defaults(func=_guarded(cmd_guards_status))

    kill = sub.add_parser("kill-switch", help="emergency exit: close every open position "
                                              "of a user (--user) or of everyone, and open "
                                              "none, until off")
    kill.add_argument("state", choices=("on", "off"))
    kill.add_argument("--user", default=None, metavar="USER",
                      help="a user (or the owning wallet address); default: everyone")
    kill.set_defaults(func=_guarded(cmd_kill_switch))

    alerts = sub.add_parser("alerts", help="recent alerts, newest first; `alerts webhook` "
                                           "sets a user's webhook")
    alerts.add_argument("--user", default=None, metavar="USER")
    alerts.add_argument("--position", default=None, metavar="ID")
    alerts.add_argument("--limit", type=_limit, default=50, metavar="N")
    alerts.set_defaults(func=_guarded(cmd_alerts))
    asub = alerts.add_subparsers(dest="alerts_command")
    hook = asub.add_parser("webhook", help="POST a user's alerts to URL, signed with a "
                                           "secret printed once (docs/guards.md)")
    hook.add_argument("user", metavar="USER")
    hook.add_argument("--url", metavar="URL")
    hook.add_argument("--remove", action="store_true")
    hook.set_defaults(func=_guarded(cmd_webhook))
