"""Liqwid (liqwid.finance): pooled money markets with qTokens, read from its GraphQL API
(api.py, markets.py, loans.py, history.py) and from the chain (chain.py and the token data
per network), offered as one LeverageSource (source.py)."""
from __future__ import annotations

from core.settings import Settings
from protocols.base import VenueTokens
from protocols.registry import register
from protocols.venues.liqwid.source import LiqwidSource

VENUE = "liqwid"


def _tokens(network_name: str) -> tuple[VenueTokens | None, str | None]:
    """The network's Liqwid token data, or None with the reason nothing is watched."""
    import importlib

    try:
        load_tokens = importlib.import_module("protocols.venues.liqwid.tokens").load_tokens
    except ModuleNotFoundError as error:
        if error.name != "protocols.venues.liqwid.tokens":
            raise
        return None, "the Liqwid on-chain side (token data) is not installed: markets come " \
                     "from the API, no UTxO is watched"
    tokens = load_tokens(network_name)
    if tokens is None:
        return None, (f"no Liqwid token data for {network_name}: markets come from the API, "
                      "no UTxO is watched")
    return tokens, None


def make_source(settings: Settings) -> LiqwidSource:
    """The Liqwid source for `settings` (no I/O: the API is called when markets are asked)."""
    network = settings.cardano_network
    if VENUE not in settings.venues:
        return LiqwidSource(network, None, api=None,
                            disabled_reason=f"not in VENUES ({','.join(settings.venues) or 'none'})")
    from protocols.http import HttpPolicy, JsonHttpClient
    from protocols.venues.liqwid.api import LiqwidApi

    client = JsonHttpClient(VENUE, settings.liqwid_api_url,
                            HttpPolicy(timeout_s=float(settings.venue_api_timeout_seconds)))
    tokens, note = _tokens(network.name)
    return LiqwidSource(network, tokens, api=LiqwidApi(client), watch_note=note,
                        market_max_age_s=float(settings.market_max_age_seconds))


register(VENUE, make_source)
