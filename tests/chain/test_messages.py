"""Every recorded protocol message decodes to its message and encodes back byte for byte."""
from __future__ import annotations

import cbor2
import pytest
from cbor2 import CBORTag

from chain.errors import DecodeError
from chain.miniprotocols.blockfetch import messages as bf
from chain.miniprotocols.chainsync import messages as cs
from chain.miniprotocols.handshake import messages as hs
from chain.miniprotocols.handshake.versions import N2C_VERSIONS, proposal
from chain.miniprotocols.keepalive import messages as ka
from chain.miniprotocols.localtxsubmission import messages as lts
from chain.points import ORIGIN, Point, Tip
from tests.support.fixtures import fixtures_dir, hex_bytes

VECTORS = [
    ("msg-chainsync-requestnext.hex", cs.decode, cs.RequestNext),
    ("msg-chainsync-awaitreply.hex", cs.decode, cs.AwaitReply),
    ("msg-chainsync-n2n-rollforward-shelley-testnet-02b1c561.hex", cs.decode, cs.RollForward),
    ("msg-chainsync-n2n-rollforward-byron-ebb-testnet-8f860283.hex", cs.decode, cs.RollForward),
    ("msg-chainsync-n2c-rollforward-shelley-testnet-02b1c561.hex", cs.decode, cs.RollForward),
    ("msg-chainsync-n2c-rollforward-byron-main-testnet-f38aa5e8.hex", cs.decode, cs.RollForward),
    ("msg-keepalive-request-12345.hex", ka.decode, ka.KeepAlive),
    ("msg-keepalive-response-12345.hex", ka.decode, ka.KeepAliveResponse),
    ("msg-keepalive-done.hex", ka.decode, ka.Done),
    ("msg-blockfetch-requestrange-synthetic.hex", bf.decode, bf.RequestRange),
    ("msg-blockfetch-clientdone.hex", bf.decode, bf.ClientDone),
    ("msg-blockfetch-startbatch.hex", bf.decode, bf.StartBatch),
    ("msg-blockfetch-noblocks.hex", bf.decode, bf.NoBlocks),
    ("msg-blockfetch-block-synthetic.hex", bf.decode, bf.Block),
    ("msg-blockfetch-batchdone.hex", bf.decode, bf.BatchDone),
    ("msg-handshake-refuse-versionmismatch-synthetic.hex", hs.decode, hs.Refuse),
    ("msg-handshake-refuse-refused-synthetic.hex", hs.decode, hs.Refuse),
]


@pytest.mark.parametrize("name,decode,cls", VECTORS, ids=[v[0] for v in VECTORS])
def test_vector_round_trips_byte_for_byte(name, decode, cls):
    raw = hex_bytes(name)
    message = decode(cbor2.loads(raw))
    assert type(message) is cls
    assert message.encode() == raw


def test_every_message_file_is_covered():
    names = {p.name for p in (fixtures_dir() / "cardano").glob("msg-*.hex")}
    assert names == {v[0] for v in VECTORS}


def test_decoded_fields_match_sources():
    keep = ka.decode(cbor2.loads(hex_bytes("msg-keepalive-request-12345.hex")))
    assert keep.cookie == 12345
    forward = cs.decode(cbor2.loads(hex_bytes(
        "msg-chainsync-n2n-rollforward-shelley-testnet-02b1c561.hex")))
    assert forward.tip.point.slot == 55770176 and forward.tip.block_no == 3480174
    assert forward.content[0] == 1 and isinstance(forward.content[1], CBORTag)
    refuse = hs.decode(cbor2.loads(hex_bytes("msg-handshake-refuse-versionmismatch-synthetic.hex")))
    assert refuse.reason == [0, [7, 8, 9, 10]] and "mismatch" in refuse.describe()
    block = bf.decode(cbor2.loads(hex_bytes("msg-blockfetch-block-synthetic.hex")))
    assert block.wrapped == bytes.fromhex("8206820102")


def test_handshake_proposal_matches_the_reference_example():
    # ouroboros.md: propose v14 on mainnet is 82 00 a1 0e 84 1a 2d 96 4a 09 f5 00 f4.
    propose = hs.ProposeVersions({14: proposal(False, 764824073)[14]})
    assert propose.encode().hex() == "8200a10e841a2d964a09f500f4"
    n2c = proposal(True, 2)
    assert set(n2c) == set(N2C_VERSIONS) and all(v & 0x8000 for v in n2c)
    assert n2c[0x8000 | 16] == [2, False]
    assert proposal(False, 1)[16] == [1, True, 0, False, False]  # v16 adds perasSupport


def test_constructed_messages_round_trip():
    h = bytes(range(32))
    for message, decode in [
        (cs.FindIntersect([Point(5, h), ORIGIN]), cs.decode),
        (cs.IntersectFound(Point(5, h), Tip(Point(9, h), 3)), cs.decode),
        (cs.IntersectNotFound(Tip(ORIGIN, 0)), cs.decode),
        (cs.RollBackward(ORIGIN, Tip(Point(9, h), 3)), cs.decode),
        (cs.Done(), cs.decode),
        (hs.AcceptVersion(15, [764824073, False, 0, False]), hs.decode),
        (lts.SubmitTx(6, b"\x84\xa0\xa0\xf5\xf6"), lts.decode),
        (lts.RejectTx([0, "bad"]), lts.decode),
        (lts.AcceptTx(), lts.decode),
    ]:
        encoded = message.encode()
        again = decode(cbor2.loads(encoded))
        assert again == message and again.encode() == encoded


@pytest.mark.parametrize("obj", [
    "x", [], [99], [0, 1], [2, "header"], [3, [1], [[], 0]], [4, "points"],
    [5, [1, b"short"], [[], 0]], [True],
])
def test_malformed_chainsync_messages_are_decode_errors(obj):
    with pytest.raises(DecodeError):
        cs.decode(obj)


def test_n2c_rollforward_carries_the_whole_block():
    raw = hex_bytes("msg-chainsync-n2c-rollforward-shelley-testnet-02b1c561.hex")
    message = cs.decode(cbor2.loads(raw))
    wrapped = message.content.value
    assert wrapped[:2] == b"\x82\x02"  # [2 (Shelley), block]
    # The block inside is byte for byte the recorded raw block.
    assert wrapped[2:] == hex_bytes("shelley-block-testnet-02b1c561.hex")
