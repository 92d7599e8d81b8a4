"""`dhl`: the project's command line. Exit status 2 means bad arguments or settings."""
from __future__ import annotations

import argparse
import json
import sys

from core.errors import ConfigError
from core.settings import SPECS, Settings, check_data_dir, load_settings, read_environment


def _config_error(error: ConfigError) -> SystemExit:
    print(f"config error: {error}", file=sys.stderr, flush=True)
    return SystemExit(2)


def _load_or_exit(*, replay: bool = False) -> Settings:
    try:
        return load_settings(replay=replay)
    except ConfigError as error:
        raise _config_error(error) from None


def cmd_run(args: argparse.Namespace) -> int:
    from core.logging import configure_logging
    from stack.runner import run_stack

    # As dhl run reads them: without CARDANO_NODE it replays preprod (see load_settings).
    settings = _load_or_exit(replay=True)
    try:
        check_data_dir(settings)
    except ConfigError as error:
        raise _config_error(error) from None
    configure_logging(settings)
    return run_stack(settings, read_environment())


def cmd_live_demo(args: argparse.Namespace) -> int:
    from dhl.live_demo import cmd_live_demo as run_demo

    settings = _load_or_exit()
    try:
        check_data_dir(settings)
    except ConfigError as error:
        raise _config_error(error) from None
    return run_demo(settings, args.side, args.block_seconds)


def _block_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a number of seconds, got {text!r}") from None
    if not 0.2 <= value <= 10:
        raise argparse.ArgumentTypeError(f"from 0.2 to 10 seconds, got {text}")
    return value


def cmd_config(args: argparse.Namespace) -> int:
    from dhl.state_commands import stack_settings

    if args.explain:  # a listing: it needs no valid settings
        for spec in SPECS:
            print(f"{spec.variable:26} {spec.help}")
        return 0
    try:
        settings, stack = stack_settings()
    except ConfigError as error:
        raise _config_error(error) from None
    # Which settings these are goes to stderr: stdout stays one JSON object for scripts.
    if stack is not None:
        pid = f"pid {stack.pid}" if stack.pid is not None else "pid unknown"
        print(f"dhl config: the dhl run stack running now ({pid}): the services it chose from "
              f"{stack.path}, the rest from this environment and .env", file=sys.stderr)
    else:
        replay = (f"; CARDANO_NODE is unset, so dhl run would replay recorded "
                  f"{settings.cardano_network} blocks" if settings.cardano_node is None else "")
        print(f"dhl config: no dhl run stack is running here: the settings from this "
              f"environment and .env, as dhl run would use them{replay}", file=sys.stderr)
    print(json.dumps(settings.public_view(), indent=2))
    return 0


def cmd_follow(args: argparse.Namespace) -> int:
    from core.logging import configure_logging
    from dhl.follow import run_follower

    settings = _load_or_exit()
    configure_logging(settings)
    return run_follower(settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dhl", description="DH-Leverage: leveraged trading "
                                                             "on Cardano")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the whole stack (paper mode by default) until Ctrl-C")
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser("live-demo", help="the live path offline: live positions opened "
                          "and closed against a local sandbox chain, signed, sent and "
                          "confirmed from blocks (docs/live.md)")
    demo.add_argument("--side", choices=("long", "short", "both"), default="both",
                      help="which demo position(s): a long STRIKE, a short USDM (both)")
    demo.add_argument("--block-seconds", type=_block_seconds, default=1.0, metavar="S",
                      help="the sandbox forges a block every S seconds (0.2 to 10; default 1)")
    demo.set_defaults(func=cmd_live_demo)

    config = sub.add_parser("config", help="validate the settings and print them, secrets hidden")
    config.add_argument("--explain", action="store_true", help="list every variable and its use")
    config.set_defaults(func=cmd_config)

    follow = sub.add_parser("follow", help="the follower process: follow CARDANO_NODE")
    follow.set_defaults(func=cmd_follow)

    from dhl.chain_commands import add_chain_commands

    add_chain_commands(sub)

    from dhl.sandbox_commands import add_sandbox_commands

    add_sandbox_commands(sub)

    from dhl.state_commands import add_state_commands

    add_state_commands(sub)

    from dhl.venue_commands import add_venue_commands

    add_venue_commands(sub)

    from dhl.dex_commands import add_dex_commands

    add_dex_commands(sub)
    from dhl.paper_commands import add_paper_commands
    from dhl.position_commands import add_position_commands
    from dhl.swap_commands import add_swap_commands

    add_paper_commands(sub)
    add_swap_commands(sub)
    add_position_commands(sub)
    from dhl.apikey_commands import add_apikey_commands
    from dhl.guard_commands import add_guard_commands

    add_guard_commands(sub)
    add_apikey_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
