"""Demo watchers over the recorded preprod chunk: a script address with many outputs
spent within the chunk, and a minting policy. Registered only when VENUE_MODULES names
this module; the tests and the benchmarks use them, and they are the smallest example of
a watcher (docs/adding-a-venue.md). Not a lending venue."""
from __future__ import annotations

from typing import Any

import cbor2

from protocols.base import UtxoWatcher, Watch
from protocols.registry import register, unregister

SCRIPT_CREDENTIAL = bytes.fromhex("791d504ef072be11979a3c722bf1a46a8af77be7326fb7949da497c1")
POLICY = bytes.fromhex("df4eca31a4413526bfdea451ece32b1848440c15f9361827b0204f13")
WALLET = ("addr_test1qq7rrku33z0d8gcp4xkwa4r0ze2ru2qznhma7twlmv3mj4gdefwpxl0d4a8ld3n56urgxxrc9"
          "tqnz6qd52wpdywwnt4qqegjsf")


class DemoScript(UtxoWatcher):
    def decode_datum(self, datum_cbor: bytes) -> dict[str, Any] | None:
        value = cbor2.loads(datum_cbor)
        if isinstance(value, cbor2.CBORTag):  # Plutus constructor: tag 121.. for 0..
            return {"constructor": value.tag - 121, "fields": len(value.value)}
        return {"kind": type(value).__name__}


for name in ("demo-script", "demo-policy"):
    unregister(name)
register("demo-script", lambda settings: DemoScript("demo-script",
                                                    Watch(credentials=frozenset({SCRIPT_CREDENTIAL}))))
register("demo-policy", lambda settings: UtxoWatcher("demo-policy",
                                                     Watch(policies=frozenset({POLICY}))))
