"""Benchmark: what the three lending venues cost the block pipeline.

Run: .venv/bin/python bench/venues.py [--rounds N]

Most blocks touch no venue, so registering Liqwid, Surf and Levvy should cost the
pipeline little: the same recorded blocks (the preprod chunk's 864 blocks and the
mainnet blocks of every era in the fixtures) are applied straight (one process, no
Celery) to the demo watchers, our wallets and own txs, once without the venues and once
with them, alternately, best of N rounds each. Target: ratio (with / without) >= 0.9.
The venues watch their mainnet tokens (CARDANO_NETWORK=mainnet; Levvy through a
configuration file naming a script hash, since its mainnet scripts are not public).
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


def levvy_config(directory: Path) -> Path:
    path = directory / "levvy.json"
    path.write_text(json.dumps(LEVVY_BENCH_CONFIG))
    return path


#: A Levvy configuration for the benchmark only: a made-up validator hash, so Levvy's
#: watcher runs over the blocks like the others (it matches nothing, as on most blocks).
LEVVY_BENCH_CONFIG: dict = {}


def apply_rate(env: dict[str, str], blocks) -> float:
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
    started = time.perf_counter()
    for watcher in watchers.values():
        while apply_pending(db, watcher, "bench", batch=10_000).more:
            pass
    elapsed = time.perf_counter() - started
    client.drop_database(db.name)
    client.close()
    return len(blocks) / elapsed, sorted(watchers)


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
        with_venues = {**base, "VENUES": "liqwid,surf,levvy",
                       "LEVVY_CONFIG_FILE": str(levvy_config(Path(tmp)))}
        try:
            rates: dict[str, list[float]] = {"without": [], "with": []}
            names: dict[str, list[str]] = {}
            for _ in range(args.rounds):
                for label, env in (("without", without), ("with", with_venues)):
                    rate, names[label] = apply_rate(env, blocks)
                    rates[label].append(rate)
        finally:
            mongo.stop()
    best = {label: max(values) for label, values in rates.items()}
    print(f"{len(blocks)} recorded blocks (preprod chunk + {len(MAINNET_BLOCKS)} mainnet), "
          f"straight apply, best of {args.rounds}")
    print(f"{'watchers':60} {'blocks/s':>10}")
    for label in ("without", "with"):
        print(f"{', '.join(names[label]):60} {best[label]:10.1f}")
    ratio = best["with"] / best["without"]
    print(f"ratio with venues / without: {ratio:.3f} (target >= 0.9)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
