"""DEX order datums and their fills, read from the chain. Pure: bytes in, typed records out.

One module per DEX (its order script hashes as data and its datum layout, with the public
source it was learnt from), `registry` to find the DEX of an output, `recognise` to find
orders placed, filled and cancelled in a transaction.
"""
