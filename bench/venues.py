"""Benchmark: what the three lending venues cost the block pipeline.

Run: .venv/bin/python bench/venues.py [--rounds N]

Most blocks touch no venue, so registering Liqwid, Surf and Levvy should cost the
pipeline little: the same recorded blocks (the preprod chunk's 864 blocks and the
mainnet blocks of every era in the fixtures) are applied straight (one process, no
Celery) to the demo watchers, our wallets and own txs, once without the venues and once
with them, alternately, best of N rounds each. Target: ratio (with / without) >= 0.9.
On a shared machine whole runs swing; it also prints each watcher's best time over all
rounds and the ratio they give (the watchers other than the venues' do the same work
in both runs), which is steadier.
The venues watch their mainnet tokens (CARDANO_NETWORK=mainnet; Levvy through a
configuration file naming a script hash, since its mainnet scripts are not public; Surf
through a learned file as its discovery writes one, with made-up script hashes, since no
Surf id is public).
It starts nx-27017 itself (in memory).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chain.blockfile import read_blocks  # noqa: E402
from chain.ledger import decode_block  # noqa: E402
from core.settings import load_settings, settings_from_mapping  # noqa: E402
from stack.services import start_mongo  # noqa: E402
from store import chain_log  # noqa: E402
from store.indexes import ensure_indexes  # noqa: E402
from store.mongo import connect  # noqa: E402

MAINNET_BLOCKS = ("shelley-block-mainnet-slot16156972.hex", "allegra-block-mainnet-slot23068573.hex",
                  "mary-block-mainnet-slot39916670.hex", "alonzo-block-mainnet-slot72316767.hex",
                  "babbage-block-mainnet-slot76204984.hex", "conway-block-mainnet-slot159835207.hex")


def recorded_blocks():
    fixtures = load_settings().fixtures_dir / "cardano"
    chunk = fixtures / "segments" / "preprod-babbage-chunk01285" / "01285.chunk"
    if not chunk.exists():
        raise SystemExit(f"recorded fixtures not found at {chunk} (set FIXTURES_DIR)")
    blocks = read_blocks(chunk)
    for name in MAINNET_BLOCKS:
        blocks.append(decode_block(bytes.fromhex((fixtures / name).read_text().strip())))
    return blocks


def surf_learned(data_dir: Path) -> None:
    """What Surf learns from its API (tasks/venues discover) for the benchmark: made-up pool
    and vault script hashes and a pool-auth policy, so Surf's watcher runs over the blocks
    like the others (it matches nothing, as on most blocks)."""
    path = data_dir / "surf" / "mainnet.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"network": "mainnet", "pool_scripts": ["2e" * 28],
                                "vault_scripts": ["3e" * 28],
                                "pool_auth_policies": ["4e" * 28]}))


def levvy_config(directory: Path) -> Path:
    path = directory / "levvy.json"
    path.write_text(json.dumps(LEVVY_BENCH_CONFIG))
    return path


#: A Levvy configuration for the benchmark only: a made-up validator hash, so Levvy's
#: watcher runs over the blocks like the others (it matches nothing, as on most blocks).
LEVVY_BENCH_CONFIG: dict = {"mainnet": {
    "note": "benchmark only: a made-up validator hash",
    "validator_script_hashes": ["1e" * 28],
    "loan_asset": "lovelace",
    "fees": {"token_borrower_percent": "12.5", "token_lender_percent": "12.5"},
}}


def apply_rate(env: dict[str, str], blocks) -> tuple[float, dict[str, float]]:
    """Blocks per second applying every watcher in turn, and each watcher's seconds."""
    from indexer.apply import apply_pending
    from indexer.watchers import active_watchers

    settings = settings_from_mapping(env)
    client = connect(settings.mongo_url)
    db = client[f"bench_venues_{uuid.uuid4().hex[:6]}"]
    ensure_indexes(db)
    stored = [chain_log.StoredBlock(b.hash.hex(), b.slot, b.height, b.era, b.raw, b.tx_count)
              for b in blocks]
    chain_log.store_blocks(db, stored)
    chain_log.append_forwards(db, 1, stored)
    watchers = active_watchers(settings)
    each: dict[str, float] = {}
    started = time.perf_counter()
    for name, watcher in watchers.items():
        begun = time.perf_counter()
        while apply_pending(db, watcher, "bench", batch=10_000).more:
            pass
        each[name] = time.perf_counter() - begun
    elapsed = time.perf_counter() - started
    client.drop_database(db.name)
    client.close()
    return len(blocks) / elapsed, each


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    blocks = recorded_blocks()
    with tempfile.TemporaryDirectory() as tmp:
        mongo = start_mongo(Path(tmp) / "mongo", in_memory=True)
        base = {"MONGO_URL": mongo.url, "CARDANO_NETWORK": "mainnet",
                "VENUE_MODULES": "protocols.demo"}
        without = {**base, "VENUES": ""}
        surf_learned(Path(tmp) / "data")
        with_venues = {**base, "VENUES": "liqwid,surf,levvy", "DATA_DIR": str(Path(tmp) / "data"),
                       "LEVVY_CONFIG_FILE": str(levvy_config(Path(tmp)))}
        try:
            rates: dict[str, list[float]] = {"without": [], "with": []}
            seconds: dict[str, dict[str, float]] = {"without": {}, "with": {}}
            for _ in range(args.rounds):
                for label, env in (("without", without), ("with", with_venues)):
                    rate, each = apply_rate(env, blocks)
                    rates[label].append(rate)
                    for name, took in each.items():
                        seconds[label][name] = min(took, seconds[label].get(name, took))
        finally:
            mongo.stop()
    best = {label: max(values) for label, values in rates.items()}
    print(f"{len(blocks)} recorded blocks (preprod chunk + {len(MAINNET_BLOCKS)} mainnet), "
          f"straight apply, best of {args.rounds}")
    print(f"{'watchers':60} {'blocks/s':>10}")
    for label in ("without", "with"):
        print(f"{', '.join(sorted(seconds[label])):60} {best[label]:10.1f}")
    ratio = best["with"] / best["without"]
    print(f"ratio with venues / without: {ratio:.3f} (target >= 0.9)")
    # Whole runs swing with whatever else the machine runs. Steadier: each watcher's best
    # time over every round it ran in (the watchers of both runs do the same work in both),
    # the venues' watchers added to the others'.
    fastest: dict[str, float] = {}
    for each in seconds.values():
        for name, took in each.items():
            fastest[name] = min(took, fastest.get(name, took))
    print("each watcher's best time, ms: " + ", ".join(
        f"{name} {took * 1000:.1f}" for name, took in fastest.items()))
    others = sum(fastest[name] for name in seconds["without"])
    print(f"ratio from the watchers' best times: {others / sum(fastest.values()):.3f}")
    return 0

if __name__ == "__main__":
    raise SystemExit(main())
