"""A DexHunter stub whose next builds are tampered with: for tests of what the engine does
with a transaction that is not what it should be (refused by the pre-signing check, or
by the ledger)."""
from __future__ import annotations

import json
from typing import Any, Callable

import cbor2

from stubs.server import Reply, Request

BUILD = "/swap/build"


def tampered_builds(handler: Callable[[Request], Reply], change: Callable[[list[Any]], None],
                    times: int = 1) -> Callable[[Request], Reply]:
    """`handler`'s answers, except that the next `times` builds' transactions are changed
    by `change(tx)` (the decoded [body, witnesses, valid, auxiliary data], in place)."""
    left = [times]

    def serve(request: Request) -> Reply:
        reply = handler(request)
        if request.path != BUILD or reply.status != 200 or not left[0]:
            return reply
        left[0] -= 1
        body = json.loads(reply.encoded())
        tx = cbor2.loads(bytes.fromhex(body["cbor"]))
        change(tx)
        return Reply(200, raw=json.dumps({**body, "cbor": cbor2.dumps(tx).hex()}).encode())

    serve.count = handler.count  # type: ignore[attr-defined]
    return serve
