"""`dhl positions` refuses bad input with exit 2 and one line naming the option, and writes
nothing; a refused plan exits 3 (in this process, against the tests' MongoDB and the
Surf and DexHunter stubs)."""
from __future__ import annotations

import json
from contextlib import ExitStack
from typing import Iterator

import pytest

from store import positions as store
from tests.positions.support import STRIKE, paper_settings, start_stubs, store_markets
from tests.support.cli import run_dhl

pytestmark = pytest.mark.integration

NOT_INHERITED = ("MONGO_URL", "CARDANO_NETWORK", "VENUES", "VENUE_MODULES", "PAPER_SEED",
                 "PAPER_VOLATILITY", "PAPER_PRICES_CSV", "DEXHUNTER_API_URL", "SURF_API_URL")


@pytest.fixture
def env(test_env: dict[str, str], db) -> Iterator[dict[str, str]]:  # type: ignore[no-untyped-def]
    with ExitStack() as stack:
        stubs = start_stubs(stack)
        store_markets(paper_settings(test_env, stubs))
        yield {**test_env, **stubs.env()}


def dhl(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = run_dhl(["positions", *args], env, NOT_INHERITED)
    return result.returncode, result.stdout, result.stderr


@pytest.mark.parametrize("args,names", [
    (["open", "--side", "sideways", "--asset", STRIKE, "--collateral", "ADA:10",
      "--leverage", "2"], "--side"),
    (["open", "--side", "long", "--asset", STRIKE, "--collateral", "ADA:10",
      "--leverage", "1"], "--leverage"),
    (["open", "--side", "long", "--asset", STRIKE, "--collateral", "ADA:10",
      "--leverage", "NaN"], "--leverage"),
    (["open", "--side", "long", "--asset", STRIKE, "--collateral", "ADA",
      "--leverage", "2"], "--collateral"),
    (["open", "--side", "long", "--asset", STRIKE, "--collateral", "ADA:-5",
      "--leverage", "2"], "--collateral"),
    (["open", "--side", "long", "--asset", STRIKE, "--collateral", "ADA:0.0000001",
      "--leverage", "2"], "--collateral"),
    (["open", "--side", "long", "--asset", "NOSUCHTOKEN", "--collateral", "ADA:10",
      "--leverage", "2"], "--asset"),
    (["open", "--side", "long", "--asset", STRIKE, "--collateral", "ADA:10",
      "--leverage", "2", "--address", "addr_bogus"], "--address"),
    (["show", "pos-nope"], "pos-nope"),
    (["close", "pos-nope"], "pos-nope"),
    (["close", "pos-nope", "--fraction", "1.5"], "--fraction"),
    (["collateral", "pos-nope", "--add", "5"], "pos-nope"),
])
def test_bad_input_is_exit_2_and_writes_nothing(env, db, args: list[str],  # type: ignore[no-untyped-def]
                                                names: str) -> None:
    code, out, err = dhl(env, *args)
    assert code == 2, (out, err)
    assert out == "" and len(err.strip().splitlines()) == 1 and names in err
    assert store.all_positions(db) == []


def test_a_refused_plan_is_exit_3_with_its_reasons(env, db) -> None:  # type: ignore[no-untyped-def]
    code, out, err = dhl(env, "open", "--side", "long", "--asset", STRIKE, "--collateral",
                         "ADA:100", "--leverage", "3", "--plan-only")
    assert code == 3, err
    answer = json.loads(out)
    assert answer["ok"] is False and "ltv" in [r["code"] for r in answer["reasons"]]
    assert store.all_positions(db) == []  # --plan-only stores nothing, refused or not
