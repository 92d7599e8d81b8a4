"""execution/submit.py against the sandbox chain over a real Unix socket: an accepted
transaction gives its id; a refusal keeps the node's reasons; a node that is not there
is an outage, not a refusal."""
from __future__ import annotations

import hashlib

import pytest

from chain.address import parse_node_address
from chain.ledger import decode_transaction
from chain.sandbox import SandboxChain
from chain.sandbox_ledger import Funds
from chain.simulator_thread import SimulatorThread
from execution.submit import NodeUnavailable, SubmitRefused, submit
from tests.support.sandbox import ALICE, MAGIC, address, pay
from tests.support.simulator import unix_address

pytestmark = pytest.mark.integration


def test_submit_accepted_refused_and_unreachable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    chain = SandboxChain([Funds(address(ALICE), 100_000_000)], lambda: 10, magic=MAGIC,
                         block_interval_s=3600)
    sim = SimulatorThread(chain.config, unix_address(tmp_path), chain)
    [genesis] = chain.ledger.at(address(ALICE))
    good = pay(genesis, 100_000_000)
    try:
        assert submit(sim.address, MAGIC, good) == decode_transaction(good).id.hex()
        with pytest.raises(SubmitRefused) as refused:
            submit(sim.address, MAGIC, good)  # the same input again: a double spend
        assert refused.value.tx_id == decode_transaction(good).id.hex()
        assert "does not exist or is spent" in refused.value.reason
    finally:
        sim.stop()
    gone = parse_node_address(f"unix://{tmp_path}/nobody.sock")
    with pytest.raises(NodeUnavailable, match="could not connect"):
        submit(gone, MAGIC, good)
    assert chain.accepted == [hashlib.blake2b(decode_transaction(good).body_raw,
                                              digest_size=32).hexdigest()]
