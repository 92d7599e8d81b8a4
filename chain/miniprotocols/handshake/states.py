"""Handshake states: the client proposes, the server confirms or refuses, done."""
from chain.statemachine import Agency, ProtocolSpec, State

#: A handshake message is limited to 5760 bytes (ouroboros-network Handshake/Codec.hs).
BYTE_LIMIT = 5760
TIMEOUT_S = 10.0

SPEC = ProtocolSpec("handshake", {
    "Propose": State("Propose", Agency.CLIENT, {0: "Confirm"}, None, BYTE_LIMIT),
    "Confirm": State("Confirm", Agency.SERVER, {1: "Done", 2: "Done", 3: "Done"}, TIMEOUT_S,
                     BYTE_LIMIT),
    "Done": State("Done", Agency.NOBODY),
}, "Propose")
