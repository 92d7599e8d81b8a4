"""What can go wrong while executing (DexHunter's quotes and builds, later signing and
submission), as types: callers decide by type (retry, widen slippage, refuse the position),
never by parsing a message. They extend the venue hierarchy of protocols/errors.py, so a
caller that handles VenueUnavailable / VenueRefused handles these too."""
from __future__ import annotations

from protocols.errors import VenueRefused, VenueUnavailable

DEXHUNTER = "dexhunter"


class DexHunterRefused(VenueRefused):
    """DexHunter answered one of its bare-string error codes (`"not_enough_liquidity"`):
    the request as it stands will not succeed. `code` is the string it said."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(DEXHUNTER, message)
        self.code = code


class NotEnoughLiquidity(DexHunterRefused):
    """No route holds enough liquidity for this size: a refusal before anything is sent."""


class InputTooSmall(DexHunterRefused):
    """The amount is below what the DEXs accept (batcher fee and deposit dominate)."""


class NoRoute(DexHunterRefused):
    """`pool_not_found` or `no_valid_pools_for_trade`: no pool trades this pair (perhaps
    because of `blacklisted_dexes`)."""


class PoolOutOfSync(VenueUnavailable):
    """`pool_out_of_sync`: DexHunter's view of a pool lags the chain. Transient: retried,
    with the slippage widened one step (the pool's price has moved)."""

    def __init__(self, message: str) -> None:
        super().__init__(DEXHUNTER, message)
        self.code = "pool_out_of_sync"
