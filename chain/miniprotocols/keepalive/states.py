"""Keep-alive states (ouroboros-network KeepAlive/Type.hs)."""
from chain.statemachine import Agency, ProtocolSpec, State

RESPONSE_WAIT_S = 60.0

SPEC = ProtocolSpec("keep-alive", {
    "Client": State("Client", Agency.CLIENT, {0: "Server", 2: "Done"}),
    "Server": State("Server", Agency.SERVER, {1: "Client"}, RESPONSE_WAIT_S),
    "Done": State("Done", Agency.NOBODY),
}, "Client")
