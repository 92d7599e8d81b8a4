"""The Ouroboros mini-protocols we speak, one package each with the same files:
`messages.py` (message classes and the decoder), `states.py` (the state table),
`client.py`, `server.py` (used by the node simulator) and a README with the states.

Protocol numbers (ouroboros-network NodeToNode.hs / NodeToClient.hs):
"""
HANDSHAKE = 0
CHAINSYNC_N2N = 2
BLOCKFETCH = 3
KEEPALIVE = 8
CHAINSYNC_N2C = 5
LOCAL_TX_SUBMISSION = 6
