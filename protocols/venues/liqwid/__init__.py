"""Liqwid Finance: pooled money markets with qTokens (lending.md §1 and §6.1), read from
its GraphQL API (api.py, markets.py, loans.py, history.py) and from the chain (tokens.py
and networks/, datums.py, rates.py, chain.py), offered as one LeverageSource (source.py)."""
from __future__ import annotations

from core.settings import Settings
from protocols.registry import register
from protocols.venues.liqwid.source import LiqwidSource

VENUE = "liqwid"


def make_source(settings: Settings) -> LiqwidSource:
    """The Liqwid source for `settings` (no I/O: the API is called when markets are asked).
    On a network without token data it lists the API's markets and watches nothing."""
    from protocols.http import HttpPolicy, JsonHttpClient
    from protocols.venues.liqwid.api import LiqwidApi
    from protocols.venues.liqwid.tokens import load_tokens

    network = settings.cardano_network
    if VENUE not in settings.venues:
        return LiqwidSource(network, None, api=None,
                            disabled_reason=f"not in VENUES ({','.join(settings.venues) or 'none'})")
    client = JsonHttpClient(VENUE, settings.liqwid_api_url,
                            HttpPolicy(timeout_s=settings.venue_api_timeout_seconds))
    return LiqwidSource(network, load_tokens(network.name), api=LiqwidApi(client),
                        market_max_age_s=settings.market_max_age_seconds)


register(VENUE, make_source)
