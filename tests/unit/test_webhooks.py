"""Webhook signatures, backoff and addresses (core/webhooks.py), and health trigger prices
(trading/guards.py)."""
from __future__ import annotations

from decimal import Decimal as D

import pytest

from core.webhooks import BACKOFF_S, WebhookError, backoff_s, signature, verify, webhook_url
from trading.guards import GuardRules, health_price, health_triggers


def test_a_signature_covers_the_timestamp_and_every_byte() -> None:
    signed = signature("s3cret", 1700000000, b'{"a":1}')
    assert signed.startswith("sha256=") and len(signed) == 7 + 64
    assert verify("s3cret", 1700000000, b'{"a":1}', signed)
    assert not verify("s3cret", 1700000001, b'{"a":1}', signed)
    assert not verify("s3cret", 1700000000, b'{"a":2}', signed)
    assert not verify("other", 1700000000, b'{"a":1}', signed)


def test_backoff_grows_then_gives_up_below_the_visibility_timeout() -> None:
    waits = [backoff_s(n) for n in range(len(BACKOFF_S) + 1)]
    assert waits[:-1] == sorted(waits[:-1]) and waits[-1] is None
    assert max(BACKOFF_S) < 3600


@pytest.mark.parametrize("url", ["ftp://h/x", "http://", "https://user:pw@h/x", "", 12,
                                 "http://h/" + "x" * 3000])
def test_bad_webhook_addresses_are_refused(url: object) -> None:
    with pytest.raises(WebhookError):
        webhook_url(url)


def test_good_webhook_address() -> None:
    assert webhook_url("https://example.org/hook?x=1") == "https://example.org/hook?x=1"


def test_health_prices_from_the_liquidation_price() -> None:
    # A long's health is proportional to the price: 1.5 at 1.5 x the liquidation price.
    assert health_price("long", D("0.3"), D("1.5")) == D("0.45")
    # A short's inversely: 1.5 at the liquidation price / 1.5.
    assert health_price("short", D("0.9"), D("1.5")) == D("0.6")
    rules = GuardRules(deleverage_below=D("1.2"), deleverage_to=D("1.6"), alert_below=D("1.5"))
    long_ = {t.kind: t for t in health_triggers("long", rules, D("0.3"))}
    assert long_["health_alert"].price == D("0.45") and long_["health_alert"].direction == "down"
    assert long_["deleverage"].price == D("0.36")
    short = {t.kind: t for t in health_triggers("short", rules, D("0.9"))}
    assert short["deleverage"].price == D("0.75") and short["deleverage"].direction == "up"
    assert health_triggers("long", rules, None) == []  # no debt: no health to guard


def test_margin_call_adds_what_brings_the_health_to_its_target() -> None:
    from dataclasses import replace

    from core.units import Asset, Token
    from trading.risk import Book, collateral_for_health, health

    tok = Token(Asset("ab" * 28, "544f4b"), 6, "TOK")
    long_ = Book("long", tok, 400_000_000, 100_000_000, D("0.65"))  # health 1.3 at 0.5
    short = Book("short", tok, 300_000_000, 300_000_000, D("0.65"))  # 1.3: ADA against TOK
    for book, target in ((long_, D("1.6")), (short, D("1.5"))):
        add = collateral_for_health(book, D("0.5"), target)
        assert add > 0
        reached = health(replace(book, collateral=book.collateral + add), D("0.5"))
        short_of = health(replace(book, collateral=book.collateral + add - 2), D("0.5"))
        assert reached is not None and short_of is not None
        assert short_of < target <= reached  # the least that reaches it
    assert collateral_for_health(long_, D("0.5"), D("1.2")) == 0  # healthy already


def test_a_move_pays_when_the_saving_beats_the_cost() -> None:
    from trading.guards import rate_move

    move = rate_move(D(1_000_000_000), D("0.20"), "liqwid", "ada", D("0.05"), D(30),
                     D(5_000_000))
    assert move.saving_lovelace == D(1_000_000_000) * D("0.15") * 30 / 365
    assert move.pays  # 12.3 ADA saved in 30 days against 5 ADA to move
    assert not rate_move(D(100_000_000), D("0.20"), "liqwid", "ada", D("0.05"), D(30),
                         D(5_000_000)).pays  # 1.2 ADA saved
