"""Chain-sync states (ouroboros-network ChainSync/Type.hs; time limits from ChainSync/Codec.hs)."""
from chain.statemachine import LARGE_BYTE_LIMIT, SMALL_BYTE_LIMIT, Agency, ProtocolSpec, State

SHORT_WAIT_S = 10.0
#: N2N: the node draws 135..269 s; we wait the longest. N2C: a local node may wait forever.
MUST_REPLY_N2N_S = 269.0


def spec(node_to_client: bool) -> ProtocolSpec:
    # N2C RollForward carries whole blocks.
    limit = LARGE_BYTE_LIMIT if node_to_client else SMALL_BYTE_LIMIT
    must_reply = None if node_to_client else MUST_REPLY_N2N_S
    return ProtocolSpec("chain-sync", {
        # RequestNext may be pipelined: the client sends more before the first is answered,
        # and each exchange ends back in Idle (ouroboros-network ChainSync/ClientPipelined).
        "Idle": State("Idle", Agency.CLIENT, {0: "CanAwait", 4: "Intersect", 7: "Done"},
                      pipelined={0: "Idle"}),
        "CanAwait": State("CanAwait", Agency.SERVER, {1: "MustReply", 2: "Idle", 3: "Idle"},
                          SHORT_WAIT_S, limit),
        "MustReply": State("MustReply", Agency.SERVER, {2: "Idle", 3: "Idle"}, must_reply, limit),
        "Intersect": State("Intersect", Agency.SERVER, {5: "Idle", 6: "Idle"}, SHORT_WAIT_S),
        "Done": State("Done", Agency.NOBODY),
    }, "Idle")
