"""Read-only, era-neutral view of Cardano blocks of every era (like pallas-traverse).

Pure code over bytes: no I/O. `decode_block` validates a block and gives its header
fields, hash and tx count cheaply; `Block.txs` builds the transactions on first use.
"""
from __future__ import annotations

from .block import Block, decode_block
from .eras import ERA_BY_HFC_INDEX, ERA_BY_TAG, MAINNET_MAGIC
from .errors import LedgerError
from .header import HeaderView, decode_header
from .prefilter import block_mentions
from .transaction import decode_transaction
from .tx import Tx, TxOut

__all__ = [
    "ERA_BY_HFC_INDEX",
    "ERA_BY_TAG",
    "MAINNET_MAGIC",
    "Block",
    "HeaderView",
    "LedgerError",
    "Tx",
    "TxOut",
    "block_mentions",
    "decode_block",
    "decode_header",
    "decode_transaction",
]
