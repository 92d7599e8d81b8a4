"""Benchmark: a guard tick's cost follows what crossed, not what exists (issue 11, point 5).

Run: .venv/bin/python bench/guards.py [--sizes 1000,10000,100000] [--markets 10] [--rounds 3]

For each size N, a MongoDB database (nx-27017, in memory, started here) holds the guard
triggers of N open positions — each a take-profit and a stop-loss, as
tasks/guard_rules.set_guards keeps them (store/guards.trigger_rows; written here in bulk,
since N upserts would time the setup, not the tick) — spread over M markets, the price
1 ADA on every market, and 1% of the positions' stop-losses crossed by it. A tick is, for
every market, `tasks.guard_rules.move_marks` (trailing stops' marks: none here) then
`fired_triggers`: the index's range reads, then the exact comparison. Baseline in the same run: the same tick over a database holding only
the crossed 1%. Printed: the tick's best time of R rounds, the triggers it fired, and the
ratio to the baseline. The target: 100,000 positions tick in about 1 s or less.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stack.services import start_mongo  # noqa: E402
from store import guards as store  # noqa: E402
from store.indexes import ensure_indexes  # noqa: E402
from store.mongo import connect  # noqa: E402
from tasks.guard_rules import fired_triggers, move_marks  # noqa: E402
from trading.guards import GuardRules, TakeProfit, trigger_docs, version_of  # noqa: E402

PRICE = Decimal(1)
CROSSED_SHARE = 100  # one position in a hundred


def position_rules(rng: random.Random, crossed: bool) -> GuardRules:
    """A long's take-profit above the price; its stop-loss crossed (at or above the
    price) or not (below it)."""
    if crossed:
        stop = PRICE + Decimal(rng.randint(0, 500)) / 10_000
    else:
        stop = PRICE - Decimal(rng.randint(1, 5_000)) / 10_000
    profit = PRICE + Decimal(rng.randint(600, 10_000)) / 10_000
    return GuardRules((TakeProfit(profit),), stop_loss=stop)


def fill(db, n: int, markets: list[str], only_crossed: bool, seed: int) -> int:  # type: ignore[no-untyped-def]
    """N positions' triggers (or only the crossed ones'); returns how many fire."""
    rng = random.Random(seed)
    rows: list[dict] = []
    firing = 0
    for i in range(n):
        crossed = i % CROSSED_SHARE == 0
        if only_crossed and not crossed:
            continue
        firing += crossed
        rules = position_rules(rng, crossed)
        pid = f"pos-{i}"
        market = markets[i % len(markets)]
        rows += store.trigger_rows(pid, version_of(pid, rules), trigger_docs(market, "long", rules))
        if len(rows) >= 5_000:
            db[store.TRIGGERS].insert_many(rows, ordered=False)
            rows = []
    if rows:
        db[store.TRIGGERS].insert_many(rows, ordered=False)
    return firing


def tick(db, markets: list[str], rounds: int) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    best, found = float("inf"), 0
    for _ in range(rounds):
        started = time.perf_counter()
        found = 0
        for market in markets:  # as tasks.guard_rules.tick: trailing marks, then fires
            move_marks(db, market, PRICE)
            found += len(fired_triggers(db, market, PRICE))
        best = min(best, time.perf_counter() - started)
    return best, found


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--markets", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    markets = [f"{i:056x}" + "544f4b" for i in range(args.markets)]
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-guards-") as tmp:
        mongo = start_mongo(Path(tmp) / "mongo", in_memory=True)
        client = connect(mongo.url)
        try:
            for n in sizes:
                row = []
                for only_crossed in (False, True):
                    db = client[f"bench_guards_{uuid.uuid4().hex[:8]}"]
                    ensure_indexes(db)
                    started = time.perf_counter()
                    firing = fill(db, n, markets, only_crossed, seed=n)
                    setup = time.perf_counter() - started
                    seconds, found = tick(db, markets, args.rounds)
                    if found != firing:
                        raise SystemExit(f"N={n}: the tick fired {found}, {firing} expected")
                    row.append((seconds, found, db[store.TRIGGERS].estimated_document_count(),
                                setup))
                    client.drop_database(db.name)
                results.append((n, row))
        finally:
            client.close()
            mongo.stop()
    print(f"guard tick: {args.markets} markets, price {PRICE} ADA, 1% of the positions' "
          f"stop-losses crossed; nx-27017 in memory; best of {args.rounds}; "
          f"{os.cpu_count()} CPUs")
    print(f"{'positions':>10} {'triggers':>9} {'fired':>6} {'tick ms':>9} "
          f"{'1% alone ms':>12} {'ratio':>6} {'setup s':>8}")
    for n, ((seconds, found, docs, setup), (alone, _, _, _)) in results:
        print(f"{n:>10} {docs:>9} {found:>6} {seconds * 1000:>9.1f} {alone * 1000:>12.1f} "
              f"{seconds / alone:>6.2f} {setup:>8.1f}")
    largest = results[-1]
    verdict = "meets" if largest[1][0][0] <= 1.0 else "MISSES"
    print(f"target: {largest[0]} positions tick in about 1 s or less: {verdict} "
          f"({largest[1][0][0]:.3f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
