"""Block-fetch states (ouroboros-network BlockFetch/Type.hs; limits from BlockFetch/Codec.hs)."""
from chain.statemachine import LARGE_BYTE_LIMIT, Agency, ProtocolSpec, State

WAIT_S = 60.0

SPEC = ProtocolSpec("block-fetch", {
    # RequestRange may be pipelined: several ranges asked for, answered in order.
    "Idle": State("Idle", Agency.CLIENT, {0: "Busy", 1: "Done"}, pipelined={0: "Idle"}),
    "Busy": State("Busy", Agency.SERVER, {2: "Streaming", 3: "Idle"}, WAIT_S),
    "Streaming": State("Streaming", Agency.SERVER, {4: "Streaming", 5: "Idle"}, WAIT_S,
                       LARGE_BYTE_LIMIT),
    "Done": State("Done", Agency.NOBODY),
}, "Idle")
