"""Does a built transaction do what its Intent says? The contract suite's check: what
leaves the wallet, what comes back, what the venue's scripts and fee takers receive, and
no output to anyone else. (The positions issue grows this into the pre-signing check.)"""
from __future__ import annotations

from collections import Counter

import cbor2

from chain.ledger import Tx
from chain.ledger.tx import tx_in, tx_out
from core.units import ADA, Asset
from protocols.model import Intent, Wallet


def wallet_inputs(wallet: Wallet) -> dict[tuple[bytes, int], Counter[Asset]]:
    """The wallet's UTxOs (CIP-30 [input, output] CBOR pairs) as ref -> value."""
    found: dict[tuple[bytes, int], Counter[Asset]] = {}
    for pair in wallet.utxos_cbor:
        ref_cbor, out_cbor = cbor2.loads(bytes.fromhex(pair))
        out = tx_out(out_cbor, "wallet utxo")
        value: Counter[Asset] = Counter({ADA: out.lovelace})
        for (policy, name), quantity in out.assets.items():
            value[Asset(policy.hex(), name.hex())] += quantity
        found[tx_in(ref_cbor, "wallet utxo")] = value
    return found


def _value(out) -> Counter[Asset]:  # type: ignore[no-untyped-def]
    value: Counter[Asset] = Counter({ADA: out.lovelace})
    for (policy, name), quantity in out.assets.items():
        value[Asset(policy.hex(), name.hex())] += quantity
    return value


def check_pays_what_it_says(tx: Tx, intent: Intent, wallet: Wallet) -> list[str]:
    problems: list[str] = []
    ours = {wallet.address, wallet.change, *wallet.other_addresses}
    inputs = wallet_inputs(wallet)
    spent: Counter[Asset] = Counter()
    for ref in tx.inputs:
        if ref in inputs:
            spent.update(inputs[ref])
    if not spent:
        problems.append("spends none of the wallet's UTxOs")
    returned: Counter[Asset] = Counter()
    paid: dict[str, Counter[Asset]] = {}
    for out in tx.outputs:
        if out.address in ours:
            returned.update(_value(out))
        else:
            paid.setdefault(out.address, Counter()).update(_value(out))
    fee = tx.fee or 0
    leaves = Counter({t.asset: 0 for t in intent.leaves})
    for t in intent.leaves:
        leaves[t.asset] += t.amount
    back = Counter({t.asset: 0 for t in intent.comes_back})
    if intent.settles == "now":
        for t in intent.comes_back:
            back[t.asset] += t.amount
    for asset in set(spent) | set(returned) | set(leaves) | set(back):
        net_out = spent[asset] - returned[asset]  # what left the wallet
        if asset == ADA:
            if net_out - fee > leaves[ADA] - back[ADA]:
                problems.append(f"lovelace leaving the wallet {net_out - fee} (fee {fee} "
                                f"apart) exceeds the intent's {leaves[ADA] - back[ADA]}")
        else:
            expected = leaves[asset] - back[asset]
            if net_out != expected:
                problems.append(f"{asset}: {net_out} leaves the wallet, the intent says "
                                f"{expected}")
    expected_parties = {t.party for t in intent.to_venue} | {t.party for t in intent.fees}
    for address in paid:
        if address not in expected_parties:
            problems.append(f"pays {dict(paid[address])} to {address}, which the intent "
                            f"does not name")
    for transfer in intent.to_venue:
        got = paid.get(transfer.party, Counter())[transfer.asset]
        if got < transfer.amount:
            problems.append(f"the venue ({transfer.party}) gets {got} of {transfer.asset}, "
                            f"the intent says {transfer.amount}")
    for transfer in intent.fees:
        got = paid.get(transfer.party, Counter())[transfer.asset]
        if got > transfer.amount:
            problems.append(f"fee to {transfer.party}: {got} of {transfer.asset} is more than "
                            f"the quoted {transfer.amount}")
    return problems
