from __future__ import annotations

import pytest

from chain.errors import AgencyError
from chain.miniprotocols.blockfetch.states import SPEC as BLOCKFETCH
from chain.miniprotocols.chainsync.states import spec as chainsync_spec
from chain.miniprotocols.handshake.states import SPEC as HANDSHAKE
from chain.miniprotocols.keepalive.states import SPEC as KEEPALIVE
from chain.miniprotocols.localtxsubmission.states import SPEC as LOCALTX
from chain.statemachine import Agency, StateMachine

SPECS = [HANDSHAKE, chainsync_spec(False), chainsync_spec(True), BLOCKFETCH, KEEPALIVE, LOCALTX]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_tables_are_closed_and_terminate(spec):
    for state in spec.states.values():
        for target in state.transitions.values():
            assert target in spec.states
        if state.agency is Agency.NOBODY:
            assert not state.transitions
        else:
            assert state.transitions
        for msg_type, end in state.pipelined.items():
            # A pipelined message is one the state allows, and its exchange ends where
            # the same side may send it again.
            assert msg_type in state.transitions
            assert spec.states[end].agency is state.agency
            assert msg_type in spec.states[end].pipelined
    assert any(s.agency is Agency.NOBODY for s in spec.states.values())


def test_chainsync_client_walk():
    client = StateMachine(chainsync_spec(False), Agency.CLIENT)
    client.sending(4)          # FindIntersect
    client.receiving(5)        # IntersectFound
    client.sending(0)          # RequestNext
    client.receiving(1)        # AwaitReply
    client.receiving(2)        # RollForward
    assert client.state.name == "Idle"
    client.sending(7)
    assert client.done


def test_agency_is_enforced_both_ways():
    client = StateMachine(chainsync_spec(False), Agency.CLIENT)
    with pytest.raises(AgencyError, match="may not speak"):
        client.receiving(2)    # the node speaks while we have agency
    client.sending(0)
    with pytest.raises(AgencyError, match="1 pipelined requests unanswered"):
        client.sending(4)      # only RequestNext may be sent before the answer
    client.receiving(1)
    with pytest.raises(AgencyError, match="may not be received"):
        client.receiving(1)    # AwaitReply twice: not allowed from MustReply


def test_blockfetch_streaming():
    client = StateMachine(BLOCKFETCH, Agency.CLIENT)
    client.sending(0)
    client.receiving(2)
    for _ in range(3):
        client.receiving(4)
    client.receiving(5)
    assert client.state.name == "Idle"
    assert BLOCKFETCH.states["Streaming"].byte_limit > BLOCKFETCH.states["Busy"].byte_limit
