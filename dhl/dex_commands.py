"""`dhl dex read FILE...`: DEX orders placed, filled and cancelled in block or transaction
files, one JSON object per line.

Line shapes (kept stable for scripts): every line has `dex`, `kind` (order, fill,
cancel), `ref` (the order UTxO, null for a fill whose order was not in the files read)
and `tx`. An order adds `order_kind` (swap, deposit), `owner`, `receiver`, `offer`
({"lovelace": n, "assets": {"<policy>.<name hex>": n}}), `want` (null where the datum
names only the pool's side), `min_receive`, `batcher_fee`, `deposit`; a fill adds
`order_ref`, `paid_to`, `received` (same form as `offer`); a cancel the same as a fill.
Files are read in the order given, so an order in one file is matched to its fill in a
later one.

Exit status 2: a file that is neither a block nor a transaction (said on stderr; the
others are still read); 1: an output at a DEX order script whose datum does not read
(said on stderr); 0 otherwise.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from execution.dex.model import Order
    from execution.dex.recognise import Found


def _line(obj: Any) -> None:
    print(json.dumps(obj, separators=(",", ":")), flush=True)


def _say(message: str) -> None:
    print(f"dhl dex read: {message}", file=sys.stderr, flush=True)


def lines(found: "Found", tx_id: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for order in found.orders:
        d = order.datum
        out.append({"dex": d.dex, "kind": "order", "ref": order.ref, "tx": tx_id,
                    "order_kind": d.kind, "owner": d.owner, "receiver": d.receiver,
                    "offer": order.offer.json(), "want": d.want,
                    "min_receive": d.min_receive, "batcher_fee": d.batcher_fee,
                    "deposit": d.deposit})
    for fill in found.fills:
        out.append({"dex": fill.dex, "kind": "fill", "ref": fill.order_ref, "tx": tx_id,
                    "order_ref": fill.order_ref, "paid_to": fill.paid_to,
                    "received": fill.received.json()})
    for cancel in found.cancels:
        out.append({"dex": cancel.dex, "kind": "cancel", "ref": cancel.ref, "tx": tx_id,
                    "order_ref": cancel.ref, "paid_to": cancel.paid_to,
                    "received": cancel.returned.json()})
    return out


def cmd_read(args: argparse.Namespace) -> int:
    from dhl.venue_commands import Refusal, read_file_txs
    from execution.dex.recognise import read_tx

    known: dict[str, Order] = {}
    status = 0
    for name in args.files:
        path = Path(name)
        try:
            txs = read_file_txs(path)
        except Refusal as error:
            _say(str(error))
            status = 2
            continue
        for tx in txs:
            found = read_tx(tx, known)
            for error_text in found.errors:
                _say(f"{path}: {error_text}")
                status = max(status, 1)
            for line in lines(found, tx.id.hex()):
                _line(line)
    return status


def _guarded(args: argparse.Namespace) -> int:
    try:
        return cmd_read(args)
    except BrokenPipeError:
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def add_dex_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    dex = sub.add_parser("dex", help="DEX orders, fills and cancels")
    dsub = dex.add_subparsers(dest="dex_command", required=True, metavar="WHAT")
    read = dsub.add_parser("read", help="DEX orders placed, filled or cancelled in block or "
                                        "transaction files, one JSON line each")
    read.add_argument("files", nargs="+", metavar="FILE",
                      help="a block file (as dhl block reads it) or one transaction's CBOR "
                           "(hex, binary or a text envelope)")
    read.set_defaults(func=_guarded)
