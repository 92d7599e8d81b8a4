"""What a transaction is meant to do, as the pre-signing check compares it."""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import cbor2

from chain.ledger.tx import TxIn, tx_in, tx_out
from core.units import ADA, Asset
from protocols.model import Intent, Wallet

from .addresses import key_hashes

Value = Counter[Asset]


@dataclass(frozen=True)
class ExpectedOrder:
    """The DEX order a swap should place (DexHunter may split it over several DEXs)."""

    want: Asset
    min_receive: int  # the quote's guaranteed floor, base units, summed over the splits
    dexes: frozenset[str] | None = None  # DexHunter DEX ids allowed; None: any we can read
    max_batcher_fee: int | None = None  # lovelace over all the orders


@dataclass(frozen=True)
class Expectation:
    intent: Intent
    ours: frozenset[str]  # our addresses (wallet, change, others), bech32
    fee_cap: int  # the most network fee we pay, lovelace
    order: ExpectedOrder | None = None
    # the values of our UTxOs, where indexed: what leaves our wallets is then checked
    our_utxos: Mapping[TxIn, Value] | None = None
    signers: frozenset[bytes] = frozenset()  # key hashes we may be asked to sign for
    venue_scripts: frozenset[str] = frozenset()  # payment script hashes (hex) of the venue
    dex_scripts: Mapping[str, str] = field(default_factory=dict)  # script hash -> DEX id
    mint: Mapping[Asset, int] = field(default_factory=dict)  # expected mint (- burns)
    certificates: int = 0  # how many certificates the transaction may carry
    withdrawals: Mapping[bytes, int] = field(default_factory=dict)  # reward account -> amount
    max_collateral_at_risk: int = 5_000_000  # lovelace lost if a script fails
    max_ttl_ahead: int = 3 * 3600  # slots: a TTL further out is refused
    max_start_ahead: int = 120  # slots: a validity start further in the future is refused

    @classmethod
    def for_wallet(cls, intent: Intent, wallet: Wallet, *, fee_cap: int,
                   **rest: object) -> "Expectation":
        """Our addresses, signers and (from its CIP-30 UTxOs, when given) spent values
        taken from the wallet the builder was given."""
        ours = frozenset({wallet.address, wallet.change, *wallet.other_addresses})
        utxos = wallet_utxos(wallet) if wallet.utxos_cbor else None
        rest.setdefault("mint", dict(intent.mint))  # what the builder says it mints
        return cls(intent=intent, ours=ours, fee_cap=fee_cap, our_utxos=utxos,
                   signers=key_hashes(ours), **rest)  # type: ignore[arg-type]


def output_value(lovelace: int, assets: Mapping[tuple[bytes, bytes], int]) -> Value:
    value: Value = Counter({ADA: lovelace})
    for (policy, name), quantity in assets.items():
        value[Asset(policy.hex(), name.hex())] += quantity
    return value


def wallet_utxos(wallet: Wallet) -> dict[TxIn, Value]:
    """The wallet's UTxOs (CIP-30 [input, output] CBOR pairs) as ref -> value."""
    found: dict[TxIn, Value] = {}
    for pair in wallet.utxos_cbor:
        ref_cbor, out_cbor = cbor2.loads(bytes.fromhex(pair))
        out = tx_out(out_cbor, "wallet utxo")
        found[tx_in(ref_cbor, "wallet utxo")] = output_value(out.lovelace, out.assets)
    return found
