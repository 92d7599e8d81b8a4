"""Chain access: the Ouroboros mini-protocols (node-to-node over TCP, node-to-client over a
Unix socket), the ledger view of blocks of every era, the follower and the node simulator.

No Celery, Flask or MongoDB imports here: the follower is handed a sink and a cursor store.
"""
