"""Local tx-submission states (ouroboros-network LocalTxSubmission/Type.hs)."""
from chain.statemachine import LARGE_BYTE_LIMIT, Agency, ProtocolSpec, State

SUBMIT_WAIT_S = 60.0

SPEC = ProtocolSpec("local-tx-submission", {
    "Idle": State("Idle", Agency.CLIENT, {0: "Busy", 3: "Done"}, None, LARGE_BYTE_LIMIT),
    "Busy": State("Busy", Agency.SERVER, {1: "Idle", 2: "Idle"}, SUBMIT_WAIT_S, LARGE_BYTE_LIMIT),
    "Done": State("Done", Agency.NOBODY),
}, "Idle")
