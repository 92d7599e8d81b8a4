"""The paper market as the stack sees it: the settings' walk or CSV, with the prices
operators set (store/paper_prices.py). Shared by `dhl paper` and the position flows."""
from __future__ import annotations

from core.errors import ConfigError
from core.settings import Settings
from store import paper_prices
from store.mongo import Database
from trading.paper_market import PaperMarket, PaperMarketError, PricePoint, Walk, \
    parse_price_csv


def load_paper_market(settings: Settings, db: Database | None) -> PaperMarket:
    """The paper market the settings describe, with the operator-set prices stored in `db`
    (none without one). A bad PAPER_PRICES_CSV raises ConfigError naming the line."""
    walk = Walk(settings.paper_seed, settings.paper_volatility)
    csv: dict[str, tuple[PricePoint, ...]] = {}
    path = settings.paper_prices_csv
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError("PAPER_PRICES_CSV", "a readable UTF-8 CSV file",
                              f"{str(path)!r} ({type(error).__name__})") from None
        try:
            csv = parse_price_csv(text)
        except PaperMarketError as error:
            raise ConfigError("PAPER_PRICES_CSV", "token,time,price rows",
                              f"{str(path)!r}: {error}") from None
    stored = {} if db is None else paper_prices.all_prices(db)
    return PaperMarket(walk, csv).with_overrides(
        {token: [PricePoint(at, price) for at, price in points]
         for token, points in stored.items()})
