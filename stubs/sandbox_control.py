"""The sandbox chain's control and stats over HTTP, beside its UTxOs (stubs/sandbox_utxos.py),
on the same loopback server (`dhl sandbox --http-port`), for the live path's tests:

- `GET /sandbox/stats` → {"tip": {"height", "slot", "hash"}, "accepted": [tx id, ...],
  "refused": [{"tx_id", "reasons"}], "filled": [...], "rolled_back": [...],
  "mempool": [...]} (chain/sandbox.py says what each list holds);
- `POST /sandbox/forge` → a block forged now → {"tip": ...};
- `POST /sandbox/rollback` with {"depth": N, "requeue": true|false} → the newest N blocks
  dropped → {"tip": ...}; a bad body is 400 {"error", "field"}.

Each runs on the chain's event loop under the lock its forger takes (`call_threadsafe`):
the HTTP server's threads never touch the chain themselves. A chain not served yet is 503.
"""
from __future__ import annotations

import concurrent.futures
from typing import Any

from chain.points import Tip
from chain.sandbox import NotServing, SandboxChain, tip_json
from stubs.sandbox_utxos import SandboxUtxos
from stubs.server import Reply, Request

PREFIX = "/sandbox/"
ROUTES = {"/sandbox/stats": "GET", "/sandbox/forge": "POST", "/sandbox/rollback": "POST"}


class BadInput(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def rollback_args(body: Any) -> tuple[int, bool]:
    """(depth, requeue) from a rollback body; BadInput names the field that is wrong. Pure."""
    if not isinstance(body, dict):
        raise BadInput("body", 'a JSON object {"depth": N, "requeue": true|false} is expected')
    unknown = sorted(set(body) - {"depth", "requeue"})
    if unknown:
        raise BadInput(unknown[0], f"unknown field {unknown[0]!r}: only depth and requeue "
                                   f"are taken")
    depth, requeue = body.get("depth"), body.get("requeue")
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise BadInput("depth", "depth: a whole number of blocks, 1 or more, is expected")
    if not isinstance(requeue, bool):
        raise BadInput("requeue", "requeue: true or false is expected")
    return depth, requeue


class SandboxHttp:
    """The handler: `/sandbox/...` controls `chain`; every other path is its UTxOs."""

    def __init__(self, chain: SandboxChain, timeout_s: float = 30.0) -> None:
        self.chain = chain
        self.timeout_s = timeout_s
        self.utxos = SandboxUtxos(lambda: chain.snapshot)

    def __call__(self, request: Request) -> Reply:
        if not request.path.startswith(PREFIX):
            return self.utxos(request)
        method = ROUTES.get(request.path)
        if method is None:
            return Reply(404, {"error": f"not found: {', '.join(ROUTES)} only"})
        if request.method != method:
            return Reply(405, {"error": f"{request.path} takes {method} only"})
        try:
            if request.path == "/sandbox/stats":
                return Reply(200, self.chain.call_threadsafe(self.chain.stats, self.timeout_s,
                                                               notify=False))
            if request.path == "/sandbox/forge":
                return Reply(200, {"tip": tip_json(self.chain.call_threadsafe(
                    self._forge, self.timeout_s))})
            return self.rollback(request.body)
        except NotServing as error:
            return Reply(503, {"error": str(error)})
        except concurrent.futures.TimeoutError:
            return Reply(503, {"error": f"the sandbox chain did not answer in {self.timeout_s} s"})

    def _forge(self) -> Tip:
        self.chain.forge()
        return self.chain.tip()  # read under the lock: the block just forged

    def rollback(self, body: Any) -> Reply:
        try:
            depth, requeue = rollback_args(body)
        except BadInput as error:
            return Reply(400, {"error": str(error), "field": error.field})
        try:
            tip = self.chain.call_threadsafe(
                lambda: self.chain.rollback(depth, requeue=requeue), self.timeout_s)
        except ValueError as error:  # deeper than the chain: nothing changed
            return Reply(400, {"error": str(error), "field": "depth"})
        return Reply(200, {"tip": tip_json(tip)})
