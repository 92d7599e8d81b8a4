"""What marks Surf's UTxOs on one network: the venue's book of tokens and scripts, loaded as
data (networks/<network>.json) and grown from what the API and the chain teach.

How the watch is set (docs/venues.md, Surf):
1. networks/<network>.json: what is known as fact. For mainnet that is nothing yet (the
   blueprint's hashes are of unapplied validators and are not mainnet ids).
2. A learned file (DATA_DIR/surf/<network>.json), written by `SurfSource.learn()`:
   - from `getPoolAddresses`, the pool and vault script credentials;
   - from the chain records read since, the policy of each pool's POOL_NFT (which also
     mints its POOL_INFO_NFT) and, from each PoolInfoDatum, the order and vault scripts,
     the vault authtoken policy and the collateral oracles' NFT policies.
   The pipeline's watch is built at start from both; a restart picks up what was learned.
Records found only by a script credential (no known token) are marked unauthenticated:
anyone can pay a fake datum to a script address, so markets from chain use only pool and
pool_info records that hold a known pool NFT.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

from protocols.base import VenueTokens, Watch
from protocols.venues.surf.datums import PoolInfoDatum

NETWORKS_DIR = Path(__file__).resolve().parent / "networks"
POOL_NFT = b"POOL_NFT"
POOL_INFO_NFT = b"POOL_INFO_NFT"
SETS = ("pool_auth_policies", "vault_auth_policies", "oracle_policies", "order_scripts",
        "pool_scripts", "vault_scripts")


@dataclass(frozen=True)
class SurfBook:
    network: str
    deployed: bool = False
    pool_auth_policies: frozenset[bytes] = frozenset()  # mint POOL_NFT and POOL_INFO_NFT
    vault_auth_policies: frozenset[bytes] = frozenset()
    oracle_policies: frozenset[bytes] = frozenset()
    order_scripts: frozenset[bytes] = frozenset()
    pool_scripts: frozenset[bytes] = frozenset()
    vault_scripts: frozenset[bytes] = frozenset()
    batcher_fee_estimate: int = 2_000_000
    max_batcher_fee: int = 5_000_000
    unknown: tuple[str, ...] = field(default=(), compare=False)

    def tokens(self) -> VenueTokens:
        return VenueTokens(self.network, {"pool": self.pool_auth_policies,
                                          "vault": self.vault_auth_policies,
                                          "oracle": self.oracle_policies})

    def watch(self) -> Watch:
        return Watch(credentials=self.order_scripts | self.pool_scripts | self.vault_scripts,
                     policies=self.pool_auth_policies | self.vault_auth_policies
                     | self.oracle_policies)

    @property
    def empty(self) -> bool:
        return not any(getattr(self, name) for name in SETS)

    def merged(self, other: "SurfBook") -> "SurfBook":
        return replace(self, **{name: getattr(self, name) | getattr(other, name)
                                for name in SETS})

    def add(self, name: str, values: Iterable[bytes]) -> "SurfBook":
        return replace(self, **{name: getattr(self, name) | frozenset(values)})

    def learn_pool_info(self, info: PoolInfoDatum) -> "SurfBook":
        return (self.add("order_scripts", [info.order_script_hash])
                .add("vault_scripts", [info.vault_script_hash])
                .add("vault_auth_policies", [bytes.fromhex(info.vault_authtoken.policy)])
                .add("oracle_policies", [bytes.fromhex(c.oracle_nft.policy)
                                         for c in info.collateral_infos
                                         if c.oracle_nft.policy]))

    def sets_json(self) -> dict[str, Any]:
        return {name: sorted(v.hex() for v in getattr(self, name)) for name in SETS}


def _hashes(data: dict[str, Any], name: str, where: str) -> frozenset[bytes]:
    values = data.get(name, [])
    if not isinstance(values, list):
        raise ValueError(f"{where}: {name} must be a list of hex hashes")
    found = set()
    for value in values:
        try:
            raw = bytes.fromhex(value)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: {name}: {value!r} is not hex") from None
        if len(raw) != 28:
            raise ValueError(f"{where}: {name}: {value!r} is not 28 bytes")
        found.add(raw)
    return frozenset(found)


def book_from_json(data: dict[str, Any], where: str, network: str) -> SurfBook:
    sets = {name: _hashes(data, name, where) for name in SETS}
    return SurfBook(network=network, deployed=bool(data.get("deployed", False)),
                    batcher_fee_estimate=int(data.get("batcher_fee_lovelace_estimate",
                                                      2_000_000)),
                    max_batcher_fee=int(data.get("max_batcher_fee_lovelace", 5_000_000)),
                    unknown=tuple(data.get("unknown", ())), **sets)


def load_book(network: str, learned: Path | None = None) -> SurfBook:
    """The network's file, merged with the learned file when there is one."""
    path = NETWORKS_DIR / f"{network}.json"
    if not path.exists():
        book = SurfBook(network=network, unknown=(f"any Surf deployment on {network}",))
    else:
        book = book_from_json(json.loads(path.read_text()), str(path), network)
    if learned is not None and learned.exists():
        book = book.merged(book_from_json(json.loads(learned.read_text()), str(learned),
                                          network))
    return book


def save_learned(book: SurfBook, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"network": book.network,
            "about": "learned by SurfSource.learn() from the Surf API and the chain",
            **book.sets_json()}
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=2) + "\n")
    temporary.replace(path)
